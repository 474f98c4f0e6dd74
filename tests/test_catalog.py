"""The catalog schema is Alembic's: created, upgraded, and guarded against newer versions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import create_engine

from alembic import command
from searchengine.catalog import Catalog
from searchengine.catalog.migrate import migrations_dir
from searchengine.errors import CatalogError, CatalogTooNewError

REPO = Path(__file__).resolve().parent.parent


def _columns(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _catalog_at(db: Path, revision: str) -> Path:
    """A catalog file whose schema stops at `revision`, as an older semsearch left it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()
    return db


def test_a_catalog_at_the_first_migration_upgrades_to_head(tmp_path: Path) -> None:
    db = _catalog_at(tmp_path / "catalog.sqlite", "0001_initial")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO files (path, kind, size, mtime_ns, sha256, indexed_at) "
            "VALUES ('/x/a.txt', 'text', 3, 1, 'abc', 0)"
        )
    assert "skip_reason" not in _columns(db, "files")
    catalog = Catalog(db)
    assert "skip_reason" in _columns(db, "files")
    state = catalog.file_by_path("/x/a.txt")
    assert state is not None and state.sha256 == "abc" and state.skip_reason is None
    catalog.close()


@pytest.mark.subprocess
def test_alembic_cli_upgrades_from_the_repo_root(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"db={db}", "upgrade", "head"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    assert {"files", "chunks", "vectors", "spaces"} <= {
        r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")
    }
    assert "skip_reason" in _columns(db, "files")


def test_a_catalog_from_a_newer_semsearch_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    Catalog(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    with pytest.raises(CatalogTooNewError, match="newer"):
        Catalog(db)


def test_a_garbage_catalog_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="cannot read the catalog"):
        Catalog(db)


def test_the_fast_path_knows_alembics_head(tmp_path: Path) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from searchengine.catalog.migrate import HEAD_REVISION, current_revision, migrations_dir

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    catalog = Catalog(tmp_path / "catalog.db")
    assert current_revision(catalog.engine) == HEAD_REVISION
    catalog.close()


def test_float32_vectors_become_float16(tmp_path: Path) -> None:
    import numpy as np

    db = _catalog_at(tmp_path / "catalog.sqlite", "0009_add_image_tags")
    rng = np.random.default_rng(0)
    old = rng.standard_normal((3, 4)).astype(np.float32)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO spaces (name, model, fingerprint, dim, metric, index_generation, "
            "index_count) VALUES ('text', 'm', 'fp', 4, 'cosine', 0, 0)"
        )
        conn.execute(
            "INSERT INTO files (id, path, kind, size, mtime_ns, sha256, indexed_at) "
            "VALUES (1, '/x/a.txt', 'text', 1, 1, 'h', 0)"
        )
        for i, v in enumerate(old):
            conn.execute(
                "INSERT INTO vectors (id, space, file_id, fingerprint, data) "
                "VALUES (?, 'text', 1, 'fp', ?)",
                (i + 1, v.tobytes()),
            )
    catalog = Catalog(db)
    labels, vectors = catalog.vectors_for("text", [1, 2, 3])
    catalog.close()
    assert labels.tolist() == [1, 2, 3]
    np.testing.assert_allclose(vectors, old, rtol=1e-3, atol=1e-4)
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT length(data) FROM vectors")} == {8}


def test_reading_a_space_walks_the_primary_key(tmp_path: Path) -> None:
    """iter_vectors (index rebuilds) reads batch after batch from the last label: no batch
    may sort the space (SQLite did, through the (space, file_id) index: quadratic)."""
    import numpy as np
    from sqlalchemy import event

    from searchengine.catalog import NewItem
    from searchengine.records import Chunk

    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.ensure_space("text", "m", "fp", 4)
    catalog.ensure_space("image", "m", "fp", 4)
    items = [
        NewItem(
            f"/x/{i}.txt",
            "text",
            1,
            1,
            str(i),
            "text",
            [Chunk("t", 0, 1)] * 3,
            np.eye(4, dtype=np.float32)[:3],
        )
        for i in range(7)
    ]
    added, _ = catalog.write_items(items, {"text": "fp"})
    statements: list[tuple[str, object]] = []
    event.listen(
        catalog.engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, params, *_: statements.append((sql, params)),
    )
    batches = list(catalog.iter_vectors("text", batch=5))
    labels = np.concatenate([b[0] for b in batches]).tolist()
    assert labels == sorted(added["text"]) and len(batches) == 5
    sql, params = next((s, p) for s, p in statements if "FROM vectors" in s)
    with sqlite3.connect(catalog.path) as conn:
        plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    catalog.close()
    assert "PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan


def test_a_space_another_writer_records_first_is_read_not_inserted_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of a shared catalog reach their first write at once: both read no
    "text" space, both insert it. The second insert fails on the key, and that writer
    reads the record the first made instead of failing its run."""
    from sqlalchemy.orm import Session

    first, second = Catalog(tmp_path / "catalog.sqlite"), Catalog(tmp_path / "catalog.sqlite")
    made = first.ensure_space("text", "m", "fp", 4)
    real_get = Session.get
    asked: list[object] = []

    def read_before_the_other_wrote(self: Session, entity: object, key: object, **kw: object):  # type: ignore[no-untyped-def]
        asked.append(key)
        return None if len(asked) == 1 else real_get(self, entity, key, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "get", read_before_the_other_wrote)
    got = second.ensure_space("text", "m", "fp", 4)
    assert asked == ["text", "text"] and got == made
    first.close()
    second.close()
