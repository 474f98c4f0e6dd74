"""Copy a whole catalog into an empty one: how a folder indexed on one machine moves to
a shared PostgreSQL catalog (or back), without encoding anything again.

Rows keep their ids, so vector labels stay the same and every HNSW file made
from the source is still right for the copy. The lexical rows are written anew
(FTS5 on SQLite, tsvectors on PostgreSQL) from the analysed terms the source
kept; sequences then continue after the copied ids.
"""

from __future__ import annotations

from sqlalchemy import Table, func, insert, select
from sqlalchemy import text as sql_text

from searchengine.catalog.db import Catalog
from searchengine.catalog.schema import Base
from searchengine.catalog.terms import insert_terms
from searchengine.errors import CatalogError
from searchengine.records import Progress

BATCH = 2_000
# parents before children; `spaces` is keyed by name
TABLES = ("spaces", "files", "chunks", "vectors", "image_tags", "events")
LEXICAL = ("chunk_terms", "tag_terms")


def copy_catalog(source: Catalog, target: Catalog, on_progress: Progress | None = None) -> dict:
    """Copy every row of `source` into `target`, which must hold nothing yet; returns the
    rows copied per table."""
    progress = on_progress or (lambda phase, done, total: None)
    if any(target.counts().get(k, 0) for k in ("files", "skipped", "chunks")) or target.spaces(
        include_staging=True
    ):
        raise CatalogError(f"the catalog {target.name} is not empty; copy into a new one")
    copied: dict[str, int] = {}
    total = sum(_count(source, t) for t in (*TABLES, *LEXICAL))
    done = 0
    with target.session() as out:  # one transaction: a failed copy leaves nothing behind
        for name in TABLES:
            table: Table = Base.metadata.tables[name]
            key = table.c.name if name == "spaces" else table.c.id
            copied[name] = 0
            with source.engine.connect() as conn:
                for rows in (
                    conn.execution_options(yield_per=BATCH)
                    .execute(select(table).order_by(key))
                    .partitions()
                ):
                    out.execute(insert(table), [dict(r._mapping) for r in rows])
                    copied[name] += len(rows)
                    done += len(rows)
                    progress("copy", done, total)
        for name in LEXICAL:
            copied[name] = 0
            with source.engine.connect() as conn:
                result = conn.execution_options(yield_per=BATCH).execute(
                    sql_text(f"SELECT rowid, terms FROM {name} ORDER BY rowid")
                )
                for rows in result.partitions():
                    insert_terms(out, name, [(int(r[0]), str(r[1])) for r in rows])
                    copied[name] += len(rows)
                    done += len(rows)
                    progress("copy", done, total)
        if out.get_bind().dialect.name == "postgresql":
            # a label is never handed out twice: not even one the source deleted
            after = {"vectors": _last_vector_id(source)}
            for name in ("files", "chunks", "vectors", "image_tags", "events"):
                out.execute(
                    sql_text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"greatest(coalesce((SELECT max(id) FROM {name}), 0), :last) + 1, false)"
                    ),
                    {"last": after.get(name, 0)},
                )
    return copied


def _last_vector_id(catalog: Catalog) -> int:
    """The largest vector id the source ever handed out."""
    with catalog.engine.connect() as conn:
        if catalog.engine.dialect.name == "sqlite":
            seq = conn.exec_driver_sql(
                "SELECT seq FROM sqlite_sequence WHERE name = 'vectors'"
            ).scalar()
        else:
            seq = conn.exec_driver_sql("SELECT last_value FROM vectors_id_seq").scalar()
        return int(seq or 0)


def _count(catalog: Catalog, name: str) -> int:
    with catalog.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sql_text(name))).scalar() or 0)
