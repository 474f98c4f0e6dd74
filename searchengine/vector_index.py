"""One hnswlib HNSW index per space, a cache of the catalog's vectors.

Vectors are L2-normalised, so inner product is cosine similarity. The file is
saved atomically (temp file, fsync, rename, fsync of the folder) and never
trusted blindly: the store checks it against the catalog before use.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import hnswlib
import numpy as np

from .config import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from .errors import IndexCorruptError
from .records import Vectors


class HnswIndex:
    """An inner-product HNSW index with integer labels, safe to share between threads."""

    def __init__(self, dim: int, capacity: int = 1024):
        self.dim = dim
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=max(capacity, 16), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M
        )
        self._index.set_ef(HNSW_EF_SEARCH)
        # hnswlib must not be searched while it is being added to.
        self._lock = threading.RLock()
        self._deleted = 0

    @classmethod
    def load(cls, path: Path, dim: int) -> HnswIndex:
        """Read an index file; raises IndexCorruptError if it cannot be one of `dim`."""
        _check_header(path, dim)
        self = cls.__new__(cls)
        self.dim = dim
        self._lock = threading.RLock()
        index = hnswlib.Index(space="ip", dim=dim)
        try:
            index.load_index(str(path), allow_replace_deleted=False)
        except (RuntimeError, ValueError, MemoryError) as exc:
            raise IndexCorruptError(f"cannot read index file {path}: {exc}") from exc
        index.set_ef(HNSW_EF_SEARCH)
        self._index = index
        self._deleted = 0  # unknown until reconcile() compares with the catalog
        return self

    def reconcile(self, live: np.ndarray) -> np.ndarray:
        """Make the index hold exactly the labels `live`; returns those it lacks.

        Labels the catalog no longer has are marked deleted (hnswlib cannot say
        which of its labels are deleted, so every one is marked; repeats are
        harmless). The caller adds the returned labels' vectors.
        """
        with self._lock:
            present = np.asarray(self._index.get_ids_list(), dtype=np.int64)
            extra = np.setdiff1d(present, live, assume_unique=True)
            for label in extra:
                try:
                    self._index.mark_deleted(int(label))
                except RuntimeError:
                    pass  # deleted before it was saved
            self._deleted = len(extra)
            return np.setdiff1d(live, present, assume_unique=True)

    @property
    def live_count(self) -> int:
        with self._lock:
            return int(self._index.element_count) - self._deleted

    @property
    def deleted_count(self) -> int:
        with self._lock:
            return self._deleted

    def add(self, labels: np.ndarray, vectors: Vectors) -> None:
        if len(labels) == 0:
            return
        with self._lock:
            need = int(self._index.element_count) + len(labels)
            if need > self._index.max_elements:
                self._index.resize_index(max(need, int(self._index.max_elements * 1.5)))
            self._index.add_items(np.asarray(vectors, dtype=np.float32), np.asarray(labels))

    def delete(self, labels: list[int]) -> None:
        with self._lock:
            for label in labels:
                try:
                    self._index.mark_deleted(int(label))
                    self._deleted += 1
                except RuntimeError:
                    pass  # already gone: deleting is idempotent

    def search(self, query: Vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels and cosine similarities of the k nearest live vectors."""
        with self._lock:
            k = min(k, self.live_count)
            if k <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            self._index.set_ef(max(HNSW_EF_SEARCH, k))
            labels, distances = self._index.knn_query(np.asarray(query, dtype=np.float32), k=k)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with self._lock:
            self._index.save_index(str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# hnswlib's file starts with six size_t fields; it checks none of them against
# the dimension it is asked to load with, so a foreign or truncated file would
# be read as garbage. Check them first.
_HEADER = struct.Struct("<6Q")


def _check_header(path: Path, dim: int) -> None:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(_HEADER.size)
    except OSError as exc:
        raise IndexCorruptError(f"cannot read index file {path}: {exc.strerror}") from exc
    if len(raw) < _HEADER.size:
        raise IndexCorruptError(f"index file {path} is truncated")
    _, max_elements, count, per_element, label_offset, data_offset = _HEADER.unpack(raw)
    stored_dim = (label_offset - data_offset) // 4
    if stored_dim != dim or count > max_elements or per_element < dim * 4:
        raise IndexCorruptError(
            f"index file {path} holds vectors of dimension {stored_dim}, expected {dim}"
        )
    if size < _HEADER.size + count * per_element:
        raise IndexCorruptError(f"index file {path} is truncated")
