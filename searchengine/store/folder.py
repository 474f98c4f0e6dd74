"""The index folder: the catalog, one HNSW file per space, and the writer lock.

Write order: the catalog transaction commits first, the HNSW indexes follow.
An index file is a cache: on open it is checked (header, labels, a sample of
its vectors against the catalog's, the generation stamp the catalog recorded)
and caught up or rebuilt from the stored vectors, with one log line saying so.

One writer at a time holds the lock; any number of readers open the folder
beside it. A reader notices that the writer saved a new generation of an
index file and loads it on its next search.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.exc import DBAPIError

from searchengine.catalog import Catalog, SpaceInfo, is_staging
from searchengine.catalog.postgres import AdvisoryLocks, is_postgres_url
from searchengine.config import (
    DEFAULT_COMPACT_DELETED_RATIO,
    DEFAULT_COMPACT_MIN_DELETED,
    DEFAULT_VACUUM_FREE_RATIO,
    Settings,
)
from searchengine.errors import CatalogError, IndexCorruptError
from searchengine.records import Vectors
from searchengine.store.hnsw import DEFAULT_PARAMS, HnswIndex, HnswParams
from searchengine.store.leftovers import clean_leftovers
from searchengine.store.lock import LOCK_NAME, WriterLock, writer_active
from searchengine.store.shared import catalog_locks, catalog_url, claim_folder

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"
__all__ = ["CATALOG_NAME", "LOCK_NAME", "Store"]


def _analyse_pending_chunks(catalog: Catalog) -> None:
    """Write the lexical rows that a migration left to the application (0008 analyses
    nothing, so that it never changes when the analyser does), with today's analyser."""
    from searchengine.lexical import index_text  # kiwi loads only for Hangul

    try:
        written = catalog.mend_lexical(index_text, from_scratch=False)
    except DBAPIError as exc:  # another process opening it at once got there first
        log.info("the lexical index is being written by another process: %s", exc.orig)
        return
    log.info("analysed %d chunks for the lexical index", written)


FOREIGN_SAMPLE = 48  # random labels whose vectors are compared with the catalog's on open
FOREIGN_NEWEST = 16  # ...and the newest ones, most at risk from a restored catalog
REBUILD_SHARE = 0.5  # catching up more than this share of an index costs a rebuild anyway


@dataclass(frozen=True)
class _InFlight:
    """Labels of a committed change being applied as the index is first opened."""

    added: frozenset[int] = frozenset()
    removed: frozenset[int] = frozenset()

    def unexpected(self, missing: np.ndarray, extra: np.ndarray) -> tuple[int, int]:
        """How many missing and extra labels this change does not account for."""
        return (
            sum(1 for x in missing.tolist() if x not in self.added),
            sum(1 for x in extra.tolist() if x not in self.removed),
        )


@dataclass
class _Loaded:
    index: HnswIndex
    generation: int
    fingerprint: str
    stamp: int | None = None  # the catalog's change stamp when last checked (readers)


class Store:
    """An index folder opened for reading, or for writing with the writer lock held."""

    def __init__(
        self,
        index_dir: Path,
        *,
        writer: bool = False,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        durable: bool = True,
        compact_ratio: float = DEFAULT_COMPACT_DELETED_RATIO,
        compact_min_deleted: int = DEFAULT_COMPACT_MIN_DELETED,
        hnsw: HnswParams = DEFAULT_PARAMS,
        purpose: str = "indexing",
        catalog: str | None = None,
    ):
        self.index_dir = index_dir
        self.writer = writer
        self.durable = durable
        self.compact_ratio = compact_ratio
        self.compact_min_deleted = compact_min_deleted
        self.hnsw = hnsw
        self.catalog_url = catalog_url(catalog, index_dir, create=writer)
        # a catalog on a server, shared by writers and searchers on many machines: this
        # folder holds only this machine's HNSW caches (see shared.py)
        self.shared = is_postgres_url(self.catalog_url)
        self._wait, self._on_wait = wait, on_wait
        self._lock = WriterLock(index_dir, purpose)
        self._locks: AdvisoryLocks | None = None
        if index_dir.exists() and not index_dir.is_dir():
            raise CatalogError(f"the index folder {index_dir} is a file, not a folder")
        if writer:
            index_dir.mkdir(parents=True, exist_ok=True)
            if not self.shared:
                self._lock.acquire(wait, on_wait)
        try:
            if self.shared:
                self.catalog = Catalog(url=self.catalog_url, create=writer, durable=durable)
                if writer:
                    self._locks = catalog_locks(self.catalog, purpose, wait, on_wait)
            elif self.catalog_url:
                self.catalog = Catalog(url=self.catalog_url, create=writer, durable=durable)
            else:
                self.catalog = Catalog(index_dir / CATALOG_NAME, create=writer, durable=durable)
        except Exception:
            self._lock.release()
            raise
        if self.catalog.lexical_pending():
            _analyse_pending_chunks(self.catalog)
        self._indexes: dict[str, _Loaded] = {}
        self._dirty: set[str] = set()
        self._guard = threading.Lock()  # one thread opens or reloads an index at a time
        self._last_save = time.monotonic()
        if writer:
            clean_leftovers(self.index_dir, self.catalog)

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        writer: bool = False,
        on_wait: Callable[[str], None] | None = None,
        purpose: str = "indexing",
    ) -> Store:
        """Open `settings.index_dir` with the settings' durability, index knobs and lock wait."""
        return cls(
            settings.index_dir,
            writer=writer,
            wait=settings.lock_wait_s if settings.lock_wait_s >= 0 else math.inf,
            on_wait=on_wait,
            durable=settings.fsync,
            compact_ratio=settings.compact_deleted_ratio,
            compact_min_deleted=settings.compact_min_deleted,
            hnsw=HnswParams.from_settings(settings),
            purpose=purpose,
            catalog=settings.catalog,
        )

    def claim_folder(self, root: Path) -> None:
        """Lock `root` for this writer's indexing run. On a shared catalog, writers index
        disjoint folders at once and never the same one; here the folder lock held
        since opening already excludes every other writer."""
        if self._locks is not None:
            claim_folder(self._locks, self.catalog, root, self._wait, self._on_wait)

    def close(self, save: bool = True) -> None:
        try:
            if self.writer and save:
                self.save()
            elif self.shared and save and self._dirty:
                self._save_caches()
        finally:
            self.catalog.close()
            self._lock.release()
            if self._locks is not None:
                self._locks.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # A second Ctrl-C (KeyboardInterrupt) means now: skip the save, the next
        # open catches the index up from the catalog.
        self.close(save=exc_type is None or issubclass(exc_type, Exception))

    # indexes

    def index_path(self, space: str) -> Path:
        return self.index_dir / f"{space}.hnsw"

    def hnsw_index(self, space: SpaceInfo) -> HnswIndex:
        """The space's HNSW index, checked against the catalog before first use.

        A reader reloads it when the writer has saved a new generation since.
        """
        return self._hnsw(space, _InFlight())

    def _hnsw(self, space: SpaceInfo, in_flight: _InFlight) -> HnswIndex:
        with self._guard:
            loaded = self._indexes.get(space.name)
            if loaded is not None and self.writer:
                return loaded.index
            stamp = self.catalog.change_stamp()
            if loaded is not None and loaded.stamp == stamp:
                return loaded.index  # nothing was committed since the last check
            record = self.catalog.space(space.name) or space
            if loaded is not None and self.shared and loaded.fingerprint == record.fingerprint:
                # another machine's writer changed the catalog: no file of ours has it
                loaded.index, changed = self._catch_up(record, loaded.index)
                loaded.generation += changed  # this process's own count of catch-ups
                loaded.stamp = stamp
                return loaded.index
            if loaded is not None:
                if (loaded.generation, loaded.fingerprint) == (
                    record.index_generation,
                    record.fingerprint,
                ):
                    loaded.stamp = stamp
                    return loaded.index
                log.info(
                    "index %s is at generation %d now; reloading it",
                    self.index_path(space.name).name,
                    record.index_generation,
                )
            index = self._open_index(record, in_flight)
            self._indexes[space.name] = _Loaded(index, record.index_generation, record.fingerprint)
            return index

    def loaded_generation(self, space: str) -> int | None:
        """The generation of the space's index this store has loaded, if any."""
        loaded = self._indexes.get(space)
        return loaded.generation if loaded is not None else None

    def forget(self, space: str) -> None:
        """Drop a loaded index, so that the next use opens it afresh."""
        with self._guard:
            self._indexes.pop(space, None)
            self._dirty.discard(space)

    def _open_index(self, space: SpaceInfo, in_flight: _InFlight) -> HnswIndex:
        path = self.index_path(space.name)
        problem: str | None = None
        idx: HnswIndex | None = None
        if path.exists():
            try:
                idx = HnswIndex.load(path, space.dim, self.hnsw)
            except IndexCorruptError as exc:
                problem = str(exc)
            else:
                problem = self._foreign(space, idx, path)
                if problem is not None:
                    idx = None
        else:
            problem = f"index {path.name} is missing"
        if idx is not None:
            live = self.catalog.live_labels(space.name)
            present = idx.labels()
            missing = np.setdiff1d(live, present, assume_unique=True)
            extra = np.setdiff1d(present, live, assume_unique=True)
            if len(missing) + len(extra) <= REBUILD_SHARE * max(len(live), 1) or len(live) <= 16:
                idx.delete(extra.tolist())
                if len(missing):
                    self._add_from_catalog(space.name, idx, missing)
                self._caught_up(space, idx, path, in_flight.unexpected(missing, extra))
                return idx
            problem = (
                f"index {path.name} is far behind the catalog "
                f"({len(missing)} vectors missing, {len(extra)} gone)"
            )
        idx = self.build(space)
        if idx.live_count or path.exists():
            self._mark_dirty(space.name)
        surprising = idx.live_count - len(in_flight.added) if not path.exists() else 1
        if surprising > 0:
            # a search during a first long run finds no file yet: expected, not a warning
            # ...nor is a searcher's first cache of a shared catalog
            quiet = self.shared or (not self.writer and writer_active(self.index_dir))
            log.log(
                logging.INFO if quiet else logging.WARNING,
                "%s; rebuilding it from %d vectors in the catalog",
                problem,
                idx.live_count,
            )
        return idx

    def _caught_up(
        self, space: SpaceInfo, idx: HnswIndex, path: Path, counts: tuple[int, int]
    ) -> None:
        """Log and mark for saving what catching up an index with the catalog changed."""
        missing, extra = counts
        on_disk = idx.loaded_from.stamp if idx.loaded_from else None
        if self.shared:
            # a cache behind a shared catalog is the normal case, and the catalog's record
            # of a saved file is some other machine's
            if missing or extra:
                log.info("index %s: caught up %d vectors, dropped %d", path.name, missing, extra)
                self._mark_dirty(space.name)
            return
        if missing or extra:
            log.warning(
                "index %s was behind the catalog (generation %d); "
                "caught up %d vectors, dropped %d deleted ones",
                path.name,
                space.index_generation,
                missing,
                extra,
            )
            self._mark_dirty(space.name)
        elif on_disk != space.stamp:
            # the same vectors as the catalog, but not the file the catalog
            # recorded (a save whose record was lost): save and record it again
            log.info("index %s agrees with the catalog but not with its record", path.name)
            self._mark_dirty(space.name)

    def _foreign(self, space: SpaceInfo, idx: HnswIndex, path: Path) -> str | None:
        """Why the file is not this catalog's index, from a sample of its vectors, or None."""
        labels = idx.labels()
        if not len(labels):
            return None
        rng = np.random.default_rng()
        sample = np.union1d(labels[-FOREIGN_NEWEST:], rng.choice(labels, FOREIGN_SAMPLE))
        found, expected = self.catalog.vectors_for(space.name, sample.tolist())
        if not len(found):
            return None  # nothing in common: reconcile sorts it out
        if not np.allclose(idx.vectors(found), expected, atol=1e-5):
            return (
                f"index {path.name} holds other vectors than the catalog under the same "
                f"labels (a file from another index or an older catalog)"
            )
        return None

    def build(self, space: SpaceInfo) -> HnswIndex:
        """A compact index of the space's live vectors, built from the catalog."""
        idx = HnswIndex(space.dim, capacity=max(space.index_count, 1024), params=self.hnsw)
        for labels, vectors in self.catalog.iter_vectors(space.name):
            idx.add(labels, vectors)
        return idx

    def _add_from_catalog(self, space: str, idx: HnswIndex, labels: np.ndarray) -> None:
        for at in range(0, len(labels), 10_000):
            found, vectors = self.catalog.vectors_for(space, labels[at : at + 10_000].tolist())
            idx.add(found, vectors)

    def _mark_dirty(self, space: str) -> None:
        if self.writer or self.shared:  # a searcher of a shared catalog saves its cache
            self._dirty.add(space)

    # a shared catalog (PostgreSQL): this folder holds only this machine's caches

    def _catch_up(self, space: SpaceInfo, idx: HnswIndex) -> tuple[HnswIndex, bool]:
        """Bring a loaded index level with the catalog (what other writers committed);
        returns the index and whether anything changed."""
        live = self.catalog.live_labels(space.name)
        present = idx.labels()
        missing = np.setdiff1d(live, present, assume_unique=True)
        extra = np.setdiff1d(present, live, assume_unique=True)
        if not len(missing) and not len(extra):
            return idx, False
        if len(missing) + len(extra) > REBUILD_SHARE * max(len(live), 1) and len(live) > 16:
            idx = self.build(space)
        else:
            idx.delete(extra.tolist())
            self._add_from_catalog(space.name, idx, missing)
        log.info(
            "index %s.hnsw caught up with the shared catalog: %d vectors added, %d dropped",
            space.name,
            len(missing),
            len(extra),
        )
        self._mark_dirty(space.name)
        return idx, True

    def _save_caches(self) -> None:
        """Save a searcher's changed indexes as this machine's caches (no catalog record:
        a file in this folder says nothing to other machines)."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(self._dirty):
            loaded = self._indexes.get(name)
            if loaded is None:
                continue
            try:
                loaded.index.save(self.index_path(name), fsync=False)
            except OSError as exc:
                log.warning("could not save the index cache %s: %s", self.index_path(name), exc)
        self._dirty.clear()

    # changes

    def apply(
        self, space: SpaceInfo, added: list[int], vectors: Vectors, removed: list[int]
    ) -> None:
        """Mirror a committed catalog change into the space's index."""
        if is_staging(space.name):
            return  # a model switch in progress builds its index when it is done
        if self.shared:
            return  # searchers catch their caches up from the shared catalog
        labels = np.asarray(added, dtype=np.int64)
        opened = space.name not in self._indexes
        # Opened by this very change (committed just now), the index already
        # catches up these labels from the catalog: they are no lag to report.
        idx = self._hnsw(space, _InFlight(frozenset(added), frozenset(removed)))
        idx.delete(removed)
        if opened:
            keep = ~np.isin(labels, idx.labels())
            labels, vectors = labels[keep], vectors[keep]
        idx.add(labels, vectors)
        if added or removed:
            self._mark_dirty(space.name)

    def rebuild(self, space: SpaceInfo) -> HnswIndex:
        """Replace the space's index with a compact one built from the catalog."""
        idx = self.build(space)
        with self._guard:
            self._indexes[space.name] = _Loaded(idx, space.index_generation, space.fingerprint)
            self._mark_dirty(space.name)
        return idx

    def save_if_due(self, interval_s: float) -> None:
        """Save changed indexes if the last save is `interval_s` old, so readers see progress."""
        if self._dirty and time.monotonic() - self._last_save >= interval_s:
            self.save()

    def save(self) -> None:
        """Save every changed index atomically and record it in the catalog.

        An index carrying too many deleted entries is rebuilt compactly first.
        """
        for name in sorted(self._dirty):
            space = self.catalog.space(name)
            loaded = self._indexes.get(name)
            if space is None or loaded is None:
                continue
            if self._needs_compaction(loaded.index):
                log.info(
                    "compacting %s index: %d of %d entries are deleted",
                    name,
                    loaded.index.deleted_count,
                    loaded.index.element_count,
                )
                loaded.index = self.build(space)
            stamp = loaded.index.save(self.index_path(name), fsync=self.durable)
            self.catalog.record_index_save(name, space.index_generation + 1, stamp)
            loaded.generation = space.index_generation + 1
            log.info("saved %s index: %d vectors", name, stamp.live)
        self._dirty.clear()
        self._last_save = time.monotonic()

    def _needs_compaction(self, idx: HnswIndex) -> bool:
        deleted = idx.deleted_count
        return deleted >= self.compact_min_deleted and deleted > self.compact_ratio * max(
            idx.element_count, 1
        )

    def vacuum_if_needed(self, free_ratio: float = DEFAULT_VACUUM_FREE_RATIO) -> bool:
        """VACUUM the catalog if enough of it is free pages; says whether it did."""
        ratio = self.catalog.free_ratio()
        if ratio <= free_ratio:
            return False
        log.info("vacuuming the catalog: %.0f%% of it is free pages", ratio * 100)
        self.catalog.vacuum()
        return True
