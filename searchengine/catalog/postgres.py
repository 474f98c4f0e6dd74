"""What the catalog does differently on PostgreSQL: full-text terms, change stamps, locks.

SQLite keeps the lexical index in FTS5 tables; on PostgreSQL the same tables
(`chunk_terms`, `tag_terms`: `rowid`, `terms`) carry a `tsv` column, a tsvector
written here from the very terms FTS5 is given, so no PostgreSQL text-search
parser or locale decides what a word is: Korean morphemes and casefolded words
match the same way on both. Ranking is `ts_rank` (normalised by length), not
FTS5's BM25; docs/search-quality.md has the eval figures side by side.

A catalog shared by many processes has two more needs:

- a change stamp (what caches of catalog rows are keyed on): triggers made by
  migration 0011 `pg_notify` on every committed write, and each process counts
  the notifications on a connection that LISTENs. A notification is delivered
  only after its transaction commits, so a count that did not move means
  nothing was committed since the rows were read.
- locks: session-level advisory locks on a dedicated connection, released by
  the server when the process dies, however it dies.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from searchengine.errors import CatalogError, ConfigError, LockedError

CHANNEL = "semsearch_catalog"
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
MAX_POSITIONS = 256  # ...and the most positions a lexeme keeps
POLL_SECONDS = 0.1


SUPPORTED = ("postgresql", "sqlite")


def fold_term(term: str) -> str:
    """What FTS5's unicode61 tokenizer (remove_diacritics 2) makes of an analysed term:
    lower case, accents dropped (`café` meets `cafe`); Hangul decomposes and recomposes
    unchanged. A PostgreSQL catalog folds the terms it is given with this, so that it
    stores and matches what SQLite's FTS5 does."""
    decomposed = unicodedata.normalize("NFKD", term)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).lower()


def is_postgres_url(url: str | None) -> bool:
    """Whether `url` names a PostgreSQL catalog; a clear error for what is no catalog URL."""
    if not url:
        return False
    try:
        backend = make_url(str(url)).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in SUPPORTED:
        raise ConfigError(
            f"{url!r} is not a catalog URL semsearch can use: give "
            "postgresql+psycopg://user@host/database (or sqlite:///path/to/catalog.sqlite)"
        )
    return backend == "postgresql"


def check_driver(url: str) -> None:
    """A clear error when the PostgreSQL driver is not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"the catalog {redacted(url)} is a PostgreSQL database, but its driver is not "
            "installed: pip install 'semsearch[postgres]'"
        ) from None


def redacted(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def libpq_conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (any driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


TEMPLATE = "semsearch_template"  # a migrated empty catalog, copied if the server has it


def ensure_database(url: str, *, create: bool = True) -> bool:
    """Create the database of `url` if the server lacks it (from `semsearch_template`
    when there is one: no migrations to run); says whether it exists now."""
    import psycopg

    target = make_url(url)
    name = target.database or ""
    admin = libpq_conninfo(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return True
            if not create:
                return False
            has_template = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)
            ).fetchone()
            suffix = f" TEMPLATE {TEMPLATE}" if has_template and name != TEMPLATE else ""
            for attempt in range(100):
                try:
                    conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]
                    return True
                except psycopg.errors.DuplicateDatabase:
                    return True  # another process made it meanwhile
                except psycopg.errors.ObjectInUse:
                    if attempt == 99:  # the template is being copied by someone else
                        raise
                    time.sleep(0.05)
    except psycopg.Error as exc:
        raise CatalogError(f"cannot make the catalog database {redacted(url)}: {exc}") from exc
    return True


# full-text terms


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_text(terms: str) -> str:
    """The tsvector (as text to CAST) of a space-separated run of analysed terms, with
    positions, so phrases match as in FTS5."""
    positions: dict[str, list[int]] = {}
    for at, raw in enumerate(terms.split(), start=1):
        term = fold_term(raw)
        if term:
            positions.setdefault(term, []).append(min(at, MAX_POSITION))
    return " ".join(
        f"{_quote(t)}:{','.join(str(p) for p in sorted(set(ps))[:MAX_POSITIONS])}"
        for t, ps in positions.items()
    )


_UNIT_RE = re.compile(r'"([^"]*)"')


def tsquery_text(match: str) -> str:
    """The tsquery of an FTS5 expression made by `lexical.match_expression`:
    `"a" OR "b c"` becomes `'a' | ('b' <-> 'c')`."""
    units = []
    for unit in _UNIT_RE.findall(match):
        terms = [_quote(t) for t in (fold_term(x) for x in unit.split()) if t]
        if terms:
            units.append(terms[0] if len(terms) == 1 else "(" + " <-> ".join(terms) + ")")
    return " | ".join(units)


# change stamps


class ChangeListener:
    """Counts committed catalog writes, from notifications on a LISTENing connection."""

    def __init__(self, url: str):
        self._conninfo = libpq_conninfo(url)
        self._conn: Any = None
        self._count = 0
        self._lock = threading.Lock()

    def stamp(self) -> int:
        with self._lock:
            if self._conn is None or self._conn.closed:
                import psycopg

                self._conn = psycopg.connect(self._conninfo, autocommit=True)
                self._conn.execute(f"LISTEN {CHANNEL}")
                self._count += 1  # whatever happened while not listening counts as a change
                return self._count
            pgconn = self._conn.pgconn
            try:
                pgconn.consume_input()
            except Exception:
                self._conn.close()  # the server went away: next time, listen again
                self._count += 1
                return self._count
            while pgconn.notifies() is not None:
                self._count += 1
            return self._count

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# locks

CATALOG_KEY = "semsearch: the catalog"


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def folder_keys(root: str) -> list[tuple[str, bool]]:
    """(lock name, exclusive) for indexing `root`: the folder itself exclusively and each
    folder above it shared, so two writers never index the same folder, nor one folder
    and a folder inside it, while disjoint folders are indexed at once."""
    parts = root.rstrip("/").split("/")
    above = ["/".join(parts[:n]) or "/" for n in range(1, len(parts))]
    return [(f"semsearch: folder {a}", False) for a in above] + [
        (f"semsearch: folder {root.rstrip('/') or '/'}", True)
    ]


class AdvisoryLocks:
    """Session advisory locks held on one connection for a writer's lifetime."""

    def __init__(self, url: str, purpose: str):
        import psycopg

        self.url = url
        self.purpose = purpose
        try:
            self._conn = psycopg.connect(
                libpq_conninfo(url),
                autocommit=True,
                # what a waiting writer is told: "pid 123 (indexing, on host)", as for the
                # folder lock of a SQLite catalog
                application_name=f"pid {os.getpid()} ({purpose}, on {socket.gethostname()})"[:63],
            )
        except psycopg.Error as exc:
            raise CatalogError(f"cannot reach the catalog {redacted(url)}: {exc}") from exc
        self._held: list[tuple[int, bool]] = []

    def acquire(
        self,
        name: str,
        *,
        exclusive: bool,
        what: str,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Take one lock, waiting up to `wait` seconds (math.inf: as long as it takes)."""
        key = lock_key(name)
        fn = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
        deadline = time.monotonic() + wait if math.isfinite(wait) else math.inf
        told = False
        while True:
            row = self._conn.execute(f"SELECT {fn}(%s)", (key,)).fetchone()
            if row is not None and row[0]:
                self._held.append((key, exclusive))
                return
            holder = self._holder(key)
            if time.monotonic() >= deadline:
                raise LockedError(what, holder)  # type: ignore[arg-type]
            if not told and on_wait is not None:
                on_wait(f"waiting for {holder} to finish with {what}")
                told = True
            time.sleep(POLL_SECONDS)

    def _holder(self, key: int) -> str:
        # an advisory lock's 64-bit key shows in pg_locks as two 32-bit halves
        high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        row = self._conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s LIMIT 1",
            (high, low),
        ).fetchone()
        return row[0] if row and row[0] else "another process"

    def close(self) -> None:
        if not self._conn.closed:
            self._conn.close()  # the server releases every session lock with it
