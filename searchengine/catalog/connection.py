"""The connection to a catalog database: the engine, its sessions, and its change stamp.

`CatalogConnection` is what every part of `Catalog` stands on (db.py: files,
chunks, vectors and spaces; search.py: the reads that answer queries; tags.py:
image tags; upkeep.py: checks, repairs and model switches). A SQLite file gets
its pragmas here; a PostgreSQL URL, its change listener.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from searchengine.catalog.migrate import upgrade_to_head
from searchengine.catalog.postgres import ChangeListener, check_driver, is_postgres_url, redacted
from searchengine.catalog.rows import id_batches
from searchengine.errors import CatalogError, NoIndexError


def driver_sql(engine: Engine, sql: str) -> str:
    """Plain SQL written with `?` placeholders, in the driver's own style."""
    return sql if engine.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def _pragmas(durable: bool):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before any index file can name its vectors,
        # so a power loss cannot take back ids that a saved index already holds.
        cur.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return on_connect


class CatalogConnection:
    """One SQLite file, or a PostgreSQL database shared by many processes and machines
    (`url`), migrated to the newest schema on open."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        url: str | None = None,
        create: bool = True,
        durable: bool = True,
    ):
        self.shared = is_postgres_url(url)
        self._listener: ChangeListener | None = None
        if self.shared:
            assert url is not None
            check_driver(url)
            self.path = None
            self.url = url
            self.name = redacted(url)
            self.engine = create_engine(url, pool_pre_ping=True)
            self._listener = ChangeListener(url)
        else:
            if path is None:
                path = Path(make_url(url).database or "") if url else None
            if path is None or not str(path):
                raise CatalogError(f"the catalog {url!r} names no SQLite file")
            self.path = path
            self.url = f"sqlite:///{path}"
            self.name = str(path)
            if not path.exists() and not create:
                raise NoIndexError(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url)
            event.listen(self.engine, "connect", _pragmas(durable))
        try:
            upgrade_to_head(self.engine)
        except (DatabaseError, OperationalError) as exc:
            self.engine.dispose()
            raise CatalogError(f"cannot read the catalog {self.name}: {exc.orig}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._stamp_conn: sqlite3.Connection | None = None
        self._stamp_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()
        if self._listener is not None:
            self._listener.close()
        with self._stamp_lock:
            if self._stamp_conn is not None:
                self._stamp_conn.close()
                self._stamp_conn = None

    def change_stamp(self) -> int:
        """A number that changes whenever any connection, in any process, commits to the
        catalog (SQLite's data_version, read on a connection kept for the purpose; on
        PostgreSQL the count of commit notifications): what a cache of catalog rows is
        keyed on. A few microseconds."""
        if self._listener is not None:
            return self._listener.stamp()
        with self._stamp_lock:
            if self._stamp_conn is None:
                assert self.path is not None
                self._stamp_conn = sqlite3.connect(self.path, check_same_thread=False)
            return int(self._stamp_conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    def id_rows(self, sql: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The rows of a plain SQL read whose one placeholder `{ids}` stands for a list of
        ids, run in batches on the driver's own connection. A search's page asks a few of
        these, and SQLAlchemy's layers cost more than SQLite's answers (chunk_info: two
        thirds of its time)."""
        wanted = [int(x) for x in ids]
        rows: list[tuple[Any, ...]] = []
        if not wanted:
            return rows
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            for part in id_batches(wanted):
                statement = sql.format(ids=", ".join("?" * len(part)))
                cursor.execute(driver_sql(self.engine, statement), tuple(part))
                rows += cursor.fetchall()
            cursor.close()
        finally:
            conn.close()  # back to the pool, which rolls back what a read left open
        return rows
