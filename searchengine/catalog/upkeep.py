"""The catalog's upkeep SQL: status counts, consistency checks, repairs, VACUUM, model switches.

A part of `Catalog`, kept apart so that the everyday reads and writes stay
short; like them it is the only place its SQL lives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import aliased

from searchengine.catalog.connection import CatalogConnection
from searchengine.catalog.rows import (
    STORED_BYTES,
    FileState,
    SpaceInfo,
    drop_file,
    file_state,
    is_staging,
    space_info,
    vector_blob,
)
from searchengine.catalog.schema import Chunk, File, Space, Vector
from searchengine.errors import CatalogError, ModelMismatchError
from searchengine.records import FileStamp, Vectors


class CatalogUpkeep(CatalogConnection):
    """Checks and repairs of the catalog itself, and the steps of a model switch."""

    # status

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            files = s.scalar(
                select(func.count()).select_from(File).where(File.skip_reason.is_(None))
            )
            skipped = s.scalar(
                select(func.count()).select_from(File).where(File.skip_reason.is_not(None))
            )
            chunks = s.scalar(select(func.count()).select_from(Chunk))
            attached = s.scalar(
                select(func.count()).select_from(File).where(File.parent_id.is_not(None))
            )
            out = {
                "files": int(files or 0),  # a mail's attachments among them
                "attached": int(attached or 0),
                "skipped": int(skipped or 0),
                "chunks": int(chunks or 0),
            }
            for space, n in s.execute(select(Vector.space, func.count()).group_by(Vector.space)):
                out[f"vectors_{space}"] = int(n)
            for kind, n in s.execute(
                select(File.kind, func.count())
                .where(File.skip_reason.is_(None))
                .group_by(File.kind)
            ):
                out[f"files_{kind}"] = int(n)
        return out

    def skipped(self) -> list[tuple[str, str]]:
        with self.session() as s:
            rows = s.execute(
                select(File.path, File.skip_reason)
                .where(File.skip_reason.is_not(None))
                .order_by(File.path)
            ).all()
        return [(p, r or "") for p, r in rows]

    # checks

    def integrity_problems(self) -> list[str]:
        """What SQLite's own checks find: damaged pages, broken foreign keys."""
        problems: list[str] = []
        if self.engine.dialect.name != "sqlite":
            return problems  # a server checks its own pages and enforces foreign keys
        with self.engine.connect() as conn:
            for (row,) in conn.exec_driver_sql("PRAGMA quick_check").all():
                if row != "ok":
                    problems.append(str(row))
            for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                problems.append(f"row {rowid} of {table} refers to a missing {parent} row")
        return problems

    def invalid_vectors(self) -> list[tuple[str, int, str]]:
        """(space, label, file path) of vectors made by another model or of the wrong size."""
        with self.session() as s:
            rows = s.execute(
                select(Vector.space, Vector.id, File.path)
                .join(Space, Space.name == Vector.space)
                .join(File, File.id == Vector.file_id)
                .where(
                    (Vector.fingerprint != Space.fingerprint)
                    | (func.length(Vector.data) != Space.dim * STORED_BYTES)
                )
                .order_by(Vector.id)
            ).all()
        return [(str(sp), int(label), str(path)) for sp, label, path in rows]

    def files_without_vectors(self) -> list[FileState]:
        """Indexed (not skipped) files that no live space holds a vector of."""
        spaces = [s.name for s in self._all_spaces() if not is_staging(s.name)]
        with self.session() as s:
            rows = s.scalars(
                select(File).where(
                    File.skip_reason.is_(None),
                    ~exists().where(Vector.file_id == File.id, Vector.space.in_(spaces)),
                )
            ).all()
            return [file_state(r) for r in rows]

    def orphan_chunks(self) -> int:
        """Chunks that no vector refers to."""
        with self.session() as s:
            n = s.scalar(
                select(func.count())
                .select_from(Chunk)
                .where(~exists().where(Vector.chunk_id == Chunk.id))
            )
        return int(n or 0)

    def files_with_broken_pieces(self) -> list[FileState]:
        """Files with a chunk whose vectors in a space do not read it whole: pieces
        (vectors.piece_start/end, migration 0017) out of order, overlapping, past its end
        or leaving words unread, a whole-chunk vector beside pieces, or two of them."""
        broken: set[int] = set()
        with self.session() as s:
            rows = s.execute(
                select(Vector.space, Vector.chunk_id, Vector.file_id, Vector.piece_start)
                .add_columns(Vector.piece_end, Chunk.text)
                .join(Chunk, Chunk.id == Vector.chunk_id)
                .order_by(Vector.space, Vector.chunk_id, Vector.id)
                .execution_options(yield_per=2_000)
            )
            for _, group in groupby(rows, key=lambda r: (r.space, r.chunk_id)):
                vectors = list(group)
                if not _reads_whole(
                    [(v.piece_start, v.piece_end) for v in vectors], vectors[0].text
                ):
                    broken.add(vectors[0].file_id)
            if not broken:
                return []
            files = s.scalars(select(File).where(File.id.in_(sorted(broken)))).all()
            return [file_state(r) for r in files]

    def iter_files(self, batch: int = 5_000) -> Iterator[FileState]:
        """Every file row, indexed or skipped, a batch at a time."""
        last = 0
        while True:
            with self.session() as s:
                rows = s.scalars(
                    select(File).where(File.id > last).order_by(File.id).limit(batch)
                ).all()
                states = [file_state(r) for r in rows]
            if not states:
                return
            yield from states
            last = states[-1].id

    # repairs

    def drop_files(self, file_ids: Iterable[int]) -> dict[str, list[int]]:
        """Delete files by id with their chunks and vectors; returns the labels per space."""
        dropped: dict[str, list[int]] = {}
        with self.session() as s:
            for file_id in file_ids:
                row = s.get(File, file_id)
                if row is not None:
                    for space, label in drop_file(s, row):
                        dropped.setdefault(space, []).append(label)
        return dropped

    def drop_orphan_chunks(self) -> int:
        with self.session() as s:
            result = s.execute(delete(Chunk).where(~exists().where(Vector.chunk_id == Chunk.id)))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def reindex(self) -> None:
        """Rebuild the database's own indexes (what a damaged index page needs)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("REINDEX")
            else:
                for table in ("files", "chunks", "vectors", "chunk_terms", "tag_terms"):
                    conn.exec_driver_sql(f"REINDEX TABLE {table}")

    def free_ratio(self) -> float:
        """The share of the catalog file's pages that are free (what VACUUM would return);
        0 on a server, whose autovacuum keeps its own tables."""
        if self.engine.dialect.name != "sqlite":
            return 0.0
        with self.engine.connect() as conn:
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
            free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
        return free / pages if pages else 0.0

    def server_bytes(self) -> int | None:
        """The size of a shared catalog's database on its server (None for a SQLite file,
        which the index folder's listing counts)."""
        if self.engine.dialect.name != "postgresql":
            return None
        with self.engine.connect() as conn:
            return int(
                conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0
            )

    def vacuum(self) -> None:
        """Rewrite the catalog compactly and shrink its write-ahead log."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # model switch: vectors of the new model go to a staging space, then one
    # transaction makes them the space's own

    def drop_space(self, name: str) -> int:
        """Delete a (staging) space and its vectors; returns how many vectors went."""
        with self.session() as s:
            result = s.execute(delete(Vector).where(Vector.space == name))
            s.execute(delete(Space).where(Space.name == name))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def chunks_to_embed(
        self, space: str, staging: str, after: int = 0, batch: int = 256
    ) -> list[tuple[int, int, str]]:
        """(chunk id, file id, text) of chunks `space` holds that `staging` does not yet;
        each chunk once, however many vectors (pieces) it has."""
        new = aliased(Vector)
        with self.session() as s:
            rows = s.execute(
                select(Chunk.id, Chunk.file_id, Chunk.text)
                .where(
                    Chunk.id > after,
                    exists().where(Vector.chunk_id == Chunk.id, Vector.space == space),
                    ~exists().where(new.chunk_id == Chunk.id, new.space == staging),
                )
                .order_by(Chunk.id)
                .limit(batch)
            ).all()
        return [(int(c), int(f), str(t)) for c, f, t in rows]

    def files_to_embed(self, space: str, staging: str) -> list[FileState]:
        """Files with a vector in `space` and none yet in `staging` (images: one vector each)."""
        new = aliased(Vector)
        with self.session() as s:
            rows = s.scalars(
                select(File)
                .where(
                    exists().where(Vector.file_id == File.id, Vector.space == space),
                    ~exists().where(new.file_id == File.id, new.space == staging),
                )
                .order_by(File.id)
            ).all()
            return [file_state(r) for r in rows]

    def add_vectors(
        self,
        space: str,
        fingerprint: str,
        owners: Sequence[tuple[int, int | None]],
        vectors: Vectors,
        pieces: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[int]:
        """Store vectors of existing (file id, chunk id) in `space`, each reading `pieces[i]`
        of its chunk (None: all of it); returns their labels."""
        with self.session() as s:
            row = s.get(Space, space)
            if row is None or row.fingerprint != fingerprint:
                raise ModelMismatchError(f"space {space} does not take vectors of {fingerprint}")
            rows = [
                Vector(
                    space=space,
                    file_id=file_id,
                    chunk_id=chunk_id,
                    fingerprint=fingerprint,
                    data=vector_blob(vectors[i]),
                    piece_start=piece[0] if piece else None,
                    piece_end=piece[1] if piece else None,
                )
                for i, ((file_id, chunk_id), piece) in enumerate(
                    zip(owners, pieces or [None] * len(owners), strict=True)
                )
            ]
            s.add_all(rows)
            s.flush()
            return [v.id for v in rows]

    def swap_space(
        self, space: str, staging: str, stamp: FileStamp
    ) -> tuple[SpaceInfo, list[str], dict[str, list[int]]]:
        """Make the staging space's vectors and model the space's own, in one transaction.

        Files the old model had a vector of and the new one has none of (images
        that could not be read again) are dropped, so the next run indexes them
        afresh. Returns the new record, the dropped paths and their labels in
        other spaces.
        """
        new = aliased(Vector)
        with self.session() as s:
            cur, st = s.get(Space, space), s.get(Space, staging)
            if cur is None or st is None:
                raise CatalogError(f"no model switch of the {space} space is in progress")
            lost = s.scalars(
                select(File).where(
                    exists().where(Vector.file_id == File.id, Vector.space == space),
                    ~exists().where(new.file_id == File.id, new.space == staging),
                )
            ).all()
            lost_paths = [f.path for f in lost]
            others: dict[str, list[int]] = {}
            for f in lost:
                for sp, label in drop_file(s, f):
                    if sp not in (space, staging):
                        others.setdefault(sp, []).append(label)
            s.execute(delete(Vector).where(Vector.space == space))
            s.execute(update(Vector).where(Vector.space == staging).values(space=space))
            s.execute(
                update(Space)
                .where(Space.name == space)
                .values(
                    model=st.model,
                    fingerprint=st.fingerprint,
                    dim=st.dim,
                    query_fingerprint=st.query_fingerprint,
                    precision=st.precision,
                    index_generation=cur.index_generation + 1,
                    index_count=stamp.live,
                    index_deleted=stamp.deleted,
                    index_bytes=stamp.bytes,
                )
            )
            s.execute(delete(Space).where(Space.name == staging))
            s.expire_all()
            row = s.get(Space, space)
            assert row is not None
            return space_info(row), lost_paths, others

    def _all_spaces(self) -> list[SpaceInfo]:
        with self.session() as s:
            return [space_info(r) for r in s.scalars(select(Space).order_by(Space.name))]


def _reads_whole(pieces: list[tuple[int | None, int | None]], text: str) -> bool:
    """Whether these (start, end) pieces, in label order, read all of `text`: one vector
    of the whole chunk (None, None), or pieces in order that leave no word out (between
    them only spaces and what a tokenizer may skip, such as punctuation)."""
    if len(pieces) == 1 and pieces[0] == (None, None):
        return True
    at = 0
    for start, end in pieces:
        if start is None or end is None or not at <= start < end <= len(text):
            return False
        if _has_words(text[at:start]):
            return False
        at = end
    return not _has_words(text[at:])


def _has_words(gap: str) -> bool:
    return any(ch.isalnum() for ch in gap)
