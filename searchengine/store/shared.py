"""An index folder beside a shared catalog (PostgreSQL): locks and HNSW caches.

With the catalog on a server, many writers and searchers on many machines use
it at once, and the folder holds only this machine's caches:

- writers take database locks (catalog/postgres.py): the catalog in shared
  mode for indexing, each indexed folder exclusively (and the folders above it
  shared), so disjoint folders are indexed at once and one folder never twice;
  an upkeep command (repair, a model switch) takes the catalog exclusively;
- writers only commit to the catalog; each searcher keeps its HNSW index
  caught up from the catalog whenever the change stamp moves, and saves it to
  the folder on close, so the next process starts from it (Store does both).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from searchengine.catalog import Catalog
from searchengine.catalog.postgres import (
    CATALOG_KEY,
    AdvisoryLocks,
    ensure_database,
    folder_keys,
)
from searchengine.config import ENV_CATALOG
from searchengine.errors import NoIndexError
from searchengine.files import path_key

log = logging.getLogger(__name__)

PER_FOLDER = "{index}"


def catalog_url(
    explicit: str | None, index_dir: Path | None = None, *, create: bool = True
) -> str | None:
    """The catalog to open: the one given, else $SEMSEARCH_CATALOG, else None (the SQLite
    file in the index folder). A PostgreSQL URL whose database is `{index}` means one
    database per index folder, made on first use (as a SQLite catalog is per folder)."""
    url = explicit or os.environ.get(ENV_CATALOG) or None
    if url and PER_FOLDER in url and index_dir is not None:
        digest = hashlib.sha1(str(index_dir.expanduser().resolve()).encode()).hexdigest()
        url = url.replace(PER_FOLDER, f"semsearch_{digest[:16]}")
        if not ensure_database(url, create=create):
            raise NoIndexError(index_dir)
    return url


def catalog_locks(
    catalog: Catalog, purpose: str, wait: float, on_wait: Callable[[str], None] | None
) -> AdvisoryLocks:
    """A writer's hold on a shared catalog: shared for indexing, exclusive otherwise."""
    locks = AdvisoryLocks(catalog.url, purpose)
    try:
        locks.acquire(
            CATALOG_KEY,
            exclusive=purpose != "indexing",
            what=f"the catalog {catalog.name}",
            wait=wait,
            on_wait=on_wait,
        )
    except BaseException:
        locks.close()
        raise
    return locks


def claim_folder(
    locks: AdvisoryLocks,
    catalog: Catalog,
    root: Path,
    wait: float,
    on_wait: Callable[[str], None] | None,
) -> None:
    for name, exclusive in folder_keys(path_key(str(root))):
        locks.acquire(
            name,
            exclusive=exclusive,
            what=f"{root} in the catalog {catalog.name}",
            wait=wait,
            on_wait=on_wait,
        )


_PID_RE = re.compile(r"\.(\d+)\.tmp$")


def saver_alive(tmp: Path) -> bool:
    """Whether the process that is writing this temporary file still runs."""
    found = _PID_RE.search(tmp.name)
    if not found:
        return False
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
