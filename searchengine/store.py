"""The index folder: the catalog, one HNSW file per space, and the writer lock.

Write order: the catalog transaction commits first, the HNSW indexes follow.
An index file is a cache: on open it is reconciled with the catalog, caught up
or rebuilt from the stored vectors, with one log line saying so.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import numpy as np

from .catalog import Catalog, SpaceInfo
from .errors import CatalogError, IndexCorruptError, LockedError
from .records import Vectors
from .vector_index import HnswIndex

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"
LOCK_NAME = "writer.lock"


class Store:
    """An index folder opened for reading, or for writing with the writer lock held."""

    def __init__(self, index_dir: Path, *, writer: bool = False):
        self.index_dir = index_dir
        self.writer = writer
        self._lock_fd: int | None = None
        if index_dir.exists() and not index_dir.is_dir():
            raise CatalogError(f"the index folder {index_dir} is a file, not a folder")
        if writer:
            index_dir.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        try:
            self.catalog = Catalog(index_dir / CATALOG_NAME, create=writer)
        except Exception:
            self._release_lock()
            raise
        self._indexes: dict[str, HnswIndex] = {}
        self._dirty: set[str] = set()

    # locking

    def _take_lock(self) -> None:
        fd = os.open(self.index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.index_dir} is being written by {holder}; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        if self.writer:
            self.save()
        self.catalog.close()
        self._release_lock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # indexes

    def index_path(self, space: str) -> Path:
        return self.index_dir / f"{space}.hnsw"

    def index(self, space: SpaceInfo) -> HnswIndex:
        """The space's HNSW index, checked against the catalog before first use."""
        idx = self._indexes.get(space.name)
        if idx is None:
            idx = self._open_index(space)
            self._indexes[space.name] = idx
        return idx

    def _open_index(self, space: SpaceInfo) -> HnswIndex:
        path = self.index_path(space.name)
        live = self.catalog.live_labels(space.name)
        idx: HnswIndex | None = None
        if path.exists():
            try:
                idx = HnswIndex.load(path, space.dim)
            except IndexCorruptError as exc:
                log.warning("%s; rebuilding it from the catalog", exc)
        if idx is None:
            if len(live):
                log.warning(
                    "index %s is missing; rebuilding it from %d vectors in the catalog",
                    path.name,
                    len(live),
                )
            idx = HnswIndex(space.dim, capacity=len(live))
            missing = live
        else:
            missing = idx.reconcile(live)
            if len(missing) or idx.deleted_count:
                log.warning(
                    "index %s was behind the catalog; caught up %d vectors",
                    path.name,
                    len(missing),
                )
        if len(missing):
            self._add_from_catalog(space.name, idx, missing)
            self._dirty.add(space.name)
        return idx

    def _add_from_catalog(self, space: str, idx: HnswIndex, labels: np.ndarray) -> None:
        for batch_labels, vectors in self.catalog.iter_vectors(space):
            keep = np.isin(batch_labels, labels, assume_unique=True)
            if keep.any():
                idx.add(batch_labels[keep], vectors[keep])

    def apply(
        self, space: SpaceInfo, added: list[int], vectors: Vectors, removed: list[int]
    ) -> None:
        """Mirror a committed catalog change into the space's index."""
        idx = self.index(space)
        idx.delete(removed)
        idx.add(np.asarray(added, dtype=np.int64), vectors)
        if added or removed:
            self._dirty.add(space.name)

    def save(self) -> None:
        """Save every changed index atomically and record it in the catalog."""
        for name in sorted(self._dirty):
            space = self.catalog.space(name)
            if space is None:
                continue
            idx = self._indexes[name]
            idx.save(self.index_path(name))
            self.catalog.record_index_save(name, space.index_generation + 1, idx.live_count)
            log.info("saved %s index: %d vectors", name, idx.live_count)
        self._dirty.clear()
