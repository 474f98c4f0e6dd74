"""One hnswlib HNSW index per space, a cache of the catalog's vectors.

Vectors are L2-normalised, so inner product is cosine similarity. The file is
saved atomically (temp file, fsync, rename, fsync of the folder) and never
trusted blindly: its header and labels are read and checked before hnswlib
loads it, and the store then checks it against the catalog.

hnswlib must not be searched while it is being changed; a read-write lock lets
any number of searches run together and a change wait for them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

from searchengine.config import (
    DEFAULT_EXACT_SCAN_MAX,
    DEFAULT_EXACT_SCAN_SHARE,
    DEFAULT_HNSW_EF_CONSTRUCTION,
    DEFAULT_HNSW_EF_SEARCH,
    DEFAULT_HNSW_M,
    Settings,
)
from searchengine.errors import IndexCorruptError, ModelMismatchError
from searchengine.records import FileStamp, Vectors
from searchengine.store.hnsw_file import FileScan, scan_open_file

log = logging.getLogger(__name__)


# Past this many live vectors a warm searcher no longer scores every kept vector
# (query/labels.py's EXACT_SCAN_MAX is this): the graph alone decides what a search finds.
LARGE_INDEX = 131_072

# (more than this many live vectors, at least this ef), from bench/bench_recall.py: a search
# asks for k=250. In 100,000 vectors fitted to real e5 ones (M=16), ef 250 found 0.81 of the
# true top 10 and ef 1,600 0.986; in 1,000,000, ef 1,600 finds 0.846 with M=16 and 0.937
# with M=32, ef 4,800 0.981 with M=32 (~27 ms of one core, p50 under load; 0.98 is issue
# 30's bar). Not measured between 100,000 and 1,000,000: the wider walk starts where warm
# searches stop being exact (bench/results/recall_m_2026-12-07.txt, docs/scaling.md).
EF_BY_SIZE: tuple[tuple[int, int], ...] = ((4_096, 1_600), (LARGE_INDEX, 4_800))


@dataclass(frozen=True)
class HnswParams:
    """How an index graph is built and searched (see the defaults in searchengine/config.py)."""

    m: int = DEFAULT_HNSW_M
    ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION
    ef_search: int = DEFAULT_HNSW_EF_SEARCH
    exact_scan_max: int = DEFAULT_EXACT_SCAN_MAX  # a filter allowing at most this many
    exact_scan_share: float = DEFAULT_EXACT_SCAN_SHARE  # ...or this share is scanned exactly

    @classmethod
    def from_settings(cls, settings: Settings) -> HnswParams:
        return cls(
            m=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
            ef_search=settings.hnsw_ef_search,
            exact_scan_max=settings.exact_scan_max,
            exact_scan_share=settings.exact_scan_share,
        )

    def ef_for(self, live: int) -> int:
        """The ef a search uses in an index of `live` vectors: the graph walk must widen as
        the index grows to keep finding the true nearest (bench/bench_recall.py)."""
        ef = self.ef_search
        for size, wider in EF_BY_SIZE:
            if live > size:
                ef = max(ef, wider)
        return ef

    def scans_exactly(self, allowed: int, live: int) -> bool:
        """Whether a filter allowing `allowed` of `live` vectors is answered by an exact scan."""
        return allowed <= max(self.exact_scan_max, int(self.exact_scan_share * live))


DEFAULT_PARAMS = HnswParams()


class ReadWriteLock:
    """Shared holders (searches) or one exclusive holder (a change); a waiting change goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _new_hnsw(dim: int, capacity: int, params: HnswParams) -> hnswlib.Index:
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(
        max_elements=max(capacity, 16), ef_construction=params.ef_construction, M=params.m
    )
    # hnswlib searches with max(ef, k), so ef is set only while no search runs: here,
    # and as the index grows (HnswParams.ef_for)
    index.set_ef(params.ef_search)
    return index


class HnswIndex:
    """An inner-product HNSW index with integer labels, safe to share between threads."""

    def __init__(self, dim: int, capacity: int = 1024, params: HnswParams = DEFAULT_PARAMS):
        self.dim = dim
        self.params = params
        self._index = _new_hnsw(dim, capacity, params)
        self._live: set[int] = set()
        self._lock = ReadWriteLock()
        self.loaded_from: FileScan | None = None  # what the file held when loaded

    @classmethod
    def load(cls, path: Path, dim: int, params: HnswParams = DEFAULT_PARAMS) -> HnswIndex:
        """Read an index file; raises IndexCorruptError if it cannot be one of `dim`.

        The graph's own M and ef_construction are the file's; `params` gives the rest.
        """
        for _ in range(3):
            try:
                with open(path, "rb") as fh:
                    before = os.fstat(fh.fileno())
                    scan = scan_open_file(fh, path, dim)
            except OSError as exc:
                raise IndexCorruptError(f"cannot read index file {path}: {exc.strerror}") from exc
            index = hnswlib.Index(space="ip", dim=dim)
            try:
                # never let a header's max_elements size the allocation
                index.load_index(str(path), max_elements=max(scan.count, 16))
            except (RuntimeError, ValueError, MemoryError) as exc:
                raise IndexCorruptError(f"cannot read index file {path}: {exc}") from exc
            try:
                after = os.stat(path)
            except OSError:
                continue
            # the writer renames a new file into place: the one scanned must be the one loaded
            if (before.st_ino, before.st_dev, before.st_size, before.st_mtime_ns) == (
                after.st_ino,
                after.st_dev,
                after.st_size,
                after.st_mtime_ns,
            ):
                break
        else:
            raise IndexCorruptError(f"index file {path} kept being replaced while it was read")
        if int(index.element_count) != scan.count:
            raise IndexCorruptError(f"index file {path} does not hold what its header says")
        index.set_ef(params.ef_for(len(scan.labels)))
        if int(index.M) < params.m and len(scan.labels) > LARGE_INDEX:
            log.warning(
                "index %s was built with M=%d: at %d vectors its graph misses more of the "
                "nearest than one of M=%d (docs/scaling.md); `semsearch repair` rebuilds it",
                path.name,
                index.M,
                len(scan.labels),
                params.m,
            )
        self = cls.__new__(cls)
        self.dim = dim
        self.params = params
        self._index = index
        self._live = set(scan.labels.tolist())
        self._lock = ReadWriteLock()
        self.loaded_from = scan
        return self

    # what it holds

    @property
    def live_count(self) -> int:
        return len(self._live)

    @property
    def element_count(self) -> int:
        """Entries in the graph, deleted ones included."""
        return int(self._index.element_count)

    @property
    def deleted_count(self) -> int:
        return self.element_count - self.live_count

    def labels(self) -> np.ndarray:
        """The live labels, sorted."""
        with self._lock.shared():
            return np.array(sorted(self._live), dtype=np.int64)

    def vectors(self, labels: Iterable[int]) -> Vectors:
        """The stored vectors of live labels (hnswlib raises for deleted ones)."""
        wanted = [int(x) for x in labels]
        if not wanted:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock.shared():
            return np.asarray(self._index.get_items(wanted), dtype=np.float32)

    # changes

    def add(self, labels: np.ndarray, vectors: Vectors) -> None:
        """Add (or overwrite) vectors under their labels."""
        if len(labels) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(labels), self.dim):
            raise ModelMismatchError(
                f"vectors of shape {vectors.shape} cannot go into an index of dimension {self.dim}"
            )
        with self._lock.exclusive():
            need = self.element_count + len(labels)
            if need > self._index.max_elements:
                self._index.resize_index(max(need, int(self._index.max_elements * 1.5)))
            self._index.add_items(vectors, np.asarray(labels, dtype=np.int64))
            self._live.update(int(x) for x in labels)
            # a bigger index needs a wider walk; set while no search runs (exclusive)
            self._index.set_ef(self.params.ef_for(self.live_count))

    def delete(self, labels: Iterable[int]) -> None:
        """Mark labels deleted; unknown or already deleted labels are ignored."""
        with self._lock.exclusive():
            for label in labels:
                label = int(label)
                if label in self._live:
                    self._index.mark_deleted(label)
                    self._live.discard(label)

    # use

    def search(
        self, query: Vectors, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels and cosine similarities of the k nearest live vectors.

        With `allowed` (labels), only those are candidates: few of them are
        scanned exactly, many are searched with hnswlib's filter, so a narrow
        filter still returns k results whenever k allowed vectors exist.
        """
        query = np.asarray(query, dtype=np.float32)
        if allowed is not None:
            return self._search_allowed(query, k, allowed)
        with self._lock.shared():
            k = min(k, self.live_count)
            if k <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            try:
                labels, distances = self._index.knn_query(query, k=k)
            except RuntimeError:
                labels = distances = None  # fewer than k reachable: retry below
        if labels is None:
            labels, distances = self._exhaustive(query, k)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def _search_allowed(
        self, query: Vectors, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        with self._lock.shared():
            live = [int(x) for x in allowed if int(x) in self._live]
            k = min(k, len(live))
            if k <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            if self.params.scans_exactly(len(live), self.live_count):
                stored = np.asarray(self._index.get_items(live), dtype=np.float32)
                return _top_k(np.asarray(live, dtype=np.int64), stored @ query[0], k)
            keep = set(live)
            # hnswlib walks the graph until max(ef, k) allowed items are found
            try:
                labels, distances = self._index.knn_query(query, k=k, filter=keep.__contains__)
            except RuntimeError:
                labels = None
        if labels is None:  # too few reachable through the graph: scan them all
            with self._lock.shared():
                stored = np.asarray(self._index.get_items(live), dtype=np.float32)
            return _top_k(np.asarray(live, dtype=np.int64), stored @ query[0], k)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def _exhaustive(self, query: Vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
        # Deletions can leave fewer than k live entries reachable at the usual
        # ef; search with ef as large as the index, then ask for fewer if need be.
        with self._lock.exclusive():
            self._index.set_ef(max(self.element_count, k))
            try:
                while k > 0:
                    try:
                        return self._index.knn_query(query, k=k)  # type: ignore[no-any-return]
                    except RuntimeError:
                        k //= 2
                empty = np.zeros((1, 0))
                return empty.astype(np.int64), empty.astype(np.float32)
            finally:
                self._index.set_ef(self.params.ef_for(self.live_count))

    def save(self, path: Path, *, fsync: bool = True) -> FileStamp:
        """Write the index to `path` atomically; returns what the file holds."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with self._lock.shared():  # saving reads the graph: searches may go on
                self._index.save_index(str(tmp))
                live, deleted = self.live_count, self.deleted_count
            if fsync:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            size = tmp.stat().st_size
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if fsync:
            fsync_dir(path.parent)
        return FileStamp(live, deleted, size)


def _top_k(labels: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    # ties broken by label, so a result list is the same on every run
    order = np.lexsort((labels, -scores))[:k]
    return labels[order], scores[order].astype(np.float32)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
