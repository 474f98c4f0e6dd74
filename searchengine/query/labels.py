"""Which file and chunk each vector label belongs to, held in memory between searches.

A search turns the nearest labels into files, and scores every chunk of each
file in its pool (a pooled manual of 50 chunks is 50 vectors). Asking the
catalog for both on every query was most of the lookup (issue 15: 5.9 ms of it
at 1,200 chunks, ~30 ms at 11,000, growing with the corpus). So:

- the owners of every label are three integer arrays (24 bytes a vector), read
  in one query;
- a process that searches a second time also keeps the vectors themselves, so
  scoring a pool is a numpy gather. They are kept as float32 while that takes at
  most FLOAT32_BUDGET (about 170,000 e5-small vectors): turning a pool's float16
  rows into float32 on every search was a third of the lookup at 1,200 chunks.
  Beyond, as float16 (what the catalog stores: 768 bytes per e5-small vector).
  A one-shot search never pays for that read; it reads its pool's vectors by
  label, the primary key.

While the kept vectors are float32 (EXACT_SCAN_MAX, about as many as FLOAT32_BUDGET
holds), a search scores them all with one matrix-vector product instead of asking HNSW
for its pool: exact, so recall is 1 however hard the vectors are for a graph. At 1,200
e5-small vectors that is about as cheap as the graph walk; at 100,000 it cost ~13 ms
of one core against ~1.4 ms for HNSW at ef 250, which found only 0.81 of the true top
10 on vectors fitted to real e5 ones (bench/bench_recall.py, docs/scaling.md).

Both are kept until the catalog changes (`Catalog.change_stamp`). Labels are
never reused and only grow, so a change that only added vectors (an indexing
run adding files) is read as the rows above the last label; anything else
reads the space again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from searchengine.catalog import Catalog
from searchengine.records import Vectors
from searchengine.store.hnsw import LARGE_INDEX

# a space this small, its vectors in memory, is scored whole; past it the graph walks wider
EXACT_SCAN_MAX = LARGE_INDEX
KEEP_VECTORS_AFTER = 2  # pools scored with one map before its vectors are kept in memory
FLOAT32_BUDGET = 256 * 2**20  # bytes of kept vectors held as float32 (float16 above it)


@dataclass(frozen=True)
class LabelMap:
    """The owners of a space's labels (sorted), by label and by file; maybe the vectors."""

    labels: np.ndarray
    files: np.ndarray
    chunks: np.ndarray  # -1: an image
    by_file: np.ndarray  # positions into `labels`, sorted by (file, label)
    vectors: np.ndarray | None = None  # float16, one row per label

    @classmethod
    def of(
        cls,
        labels: np.ndarray,
        files: np.ndarray,
        chunks: np.ndarray,
        vectors: np.ndarray | None = None,
    ) -> LabelMap:
        return cls(labels, files, chunks, np.lexsort((labels, files)), vectors)

    def __len__(self) -> int:
        return len(self.labels)

    def owners(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(known, file ids, chunk ids) of `labels`; `known` marks those in the map."""
        labels = np.asarray(labels, dtype=np.int64)
        if not len(self.labels):
            nothing = np.zeros(len(labels), dtype=np.int64)
            return np.zeros(len(labels), dtype=bool), nothing, nothing
        at = np.minimum(np.searchsorted(self.labels, labels), len(self.labels) - 1)
        return self.labels[at] == labels, self.files[at], self.chunks[at]

    def rows_of_files(self, file_ids: list[int]) -> tuple[np.ndarray, set[int]]:
        """Positions (in label order) of these files' vectors, and the files not in the map."""
        files = self.files[self.by_file]
        wanted = np.asarray(file_ids, dtype=np.int64)
        start = np.searchsorted(files, wanted, side="left")
        end = np.searchsorted(files, wanted, side="right")
        missing = {int(f) for f, a, b in zip(wanted, start, end, strict=True) if a == b}
        if not len(wanted):
            return np.zeros(0, dtype=np.int64), missing
        rows = np.concatenate([self.by_file[a:b] for a, b in zip(start, end, strict=True)])
        return np.sort(rows), missing

    def scan(self, query: np.ndarray, rows: np.ndarray | None = None) -> Scan | None:
        """The kept vectors at `rows` (else all) scored against `query`, when they are in
        memory as float32 and the space is small enough; else None."""
        if self.vectors is None or self.vectors.dtype != np.float32 or len(self) > EXACT_SCAN_MAX:
            return None
        query = np.asarray(query, dtype=np.float32)
        if rows is None:
            return Scan(self, np.arange(len(self)), self.vectors @ query)
        return Scan(self, rows, self.vectors[rows] @ query)

    def extended(self, more: LabelMap) -> LabelMap:
        vectors = None
        if self.vectors is not None and more.vectors is not None:
            more_vectors = more.vectors.astype(self.vectors.dtype, copy=False)
            vectors = np.concatenate([self.vectors, more_vectors]) if len(more) else self.vectors
        return LabelMap.of(
            np.concatenate([self.labels, more.labels]),
            np.concatenate([self.files, more.files]),
            np.concatenate([self.chunks, more.chunks]),
            vectors,
        )


@dataclass(frozen=True)
class Scan:
    """A query's cosine to the vectors at `rows` of a map (all of them, or a filter's)."""

    map: LabelMap
    rows: np.ndarray
    scores: np.ndarray

    def nearest_files(self, k: int) -> np.ndarray:
        """The owning files of the k best rows, best first (ties: the lower label)."""
        rows, scores = self.rows, self.scores
        if len(rows) > k:
            keep = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[keep], scores[keep]
        order = np.lexsort((self.map.labels[rows], -scores))
        return self.map.files[rows[order]]


@dataclass
class _Held:
    stamp: int
    map: LabelMap
    uses: int = 0


class LabelMaps:
    """One LabelMap per space, kept in step with the catalog."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()  # one reader of the catalog at a time per space map

    def get(self, space: str, *, scoring: bool = False) -> LabelMap:
        """The space's map; `scoring`: to score a pool, which counts towards keeping the
        vectors in memory."""
        stamp = self.catalog.change_stamp()
        with self._lock:
            held = self._held.get(space)
            if held is None or held.stamp != stamp:
                held = _Held(stamp, self._read(space, held))
                self._held[space] = held
            held.uses += scoring
            if held.map.vectors is None and held.uses >= KEEP_VECTORS_AFTER:
                held.map = self._load(space, vectors=True)
            return held.map

    def chunk_vectors(
        self, space: str, dim: int, file_ids: list[int]
    ) -> tuple[np.ndarray, np.ndarray, Vectors, np.ndarray]:
        """(file ids, chunk ids or -1, vectors, labels) of every vector of these files, to
        score a pool: owners from memory, vectors from memory or by label; files newer
        than the map (committed since it was read) straight from the catalog. A file's
        vectors are in label order."""
        label_map = self.get(space, scoring=True)
        rows, newer = label_map.rows_of_files(file_ids)
        vectors = self.vectors(space, dim, label_map, rows)
        files, chunks = label_map.files[rows], label_map.chunks[rows]
        labels = label_map.labels[rows]
        if newer:
            more = self.catalog.chunk_vectors(space, sorted(newer))
            if len(more[2]):
                files = np.concatenate([files, more[0]])
                chunks = np.concatenate([chunks, more[1]])
                vectors = more[2] if not len(vectors) else np.vstack([vectors, more[2]])
                labels = np.concatenate([labels, more[3]])
        return files, chunks, vectors, labels

    def vectors(self, space: str, dim: int, label_map: LabelMap, rows: np.ndarray) -> Vectors:
        """The vectors at these positions of the map: from memory, or by label from SQL."""
        if label_map.vectors is not None:
            return np.asarray(label_map.vectors[rows], dtype=np.float32)
        labels = label_map.labels[rows]
        found, vectors = self.catalog.vectors_for(space, labels.tolist())
        if len(found) == len(labels):
            return vectors
        # deleted since the map was read: keep rows aligned, as zero vectors (cosine 0)
        out = np.zeros((len(labels), dim), dtype=np.float32)
        if len(found):
            out[np.searchsorted(labels, found)] = vectors
        return out

    def _read(self, space: str, held: _Held | None) -> LabelMap:
        if held is None or not len(held.map):
            return self._load(space, vectors=False)
        if self.catalog.shared:
            # a shared catalog's writers commit in any order: a label below the last
            # one read may be new, so its maps are read whole
            fresh = self._load(space, vectors=held.map.vectors is not None)
            if fresh.vectors is not None and not np.isin(held.map.labels, fresh.labels).all():
                # some went away: as below, vectors are kept again from the next scoring
                return LabelMap.of(fresh.labels, fresh.files, fresh.chunks)
            return fresh
        last = int(held.map.labels[-1])
        more = self._load(space, vectors=held.map.vectors is not None, after=last)
        if self.catalog.vector_count(space) != len(held.map) + len(more):
            return self._load(space, vectors=False)  # some went away: read it all again
        return held.map.extended(more)

    def _load(self, space: str, *, vectors: bool, after: int = 0) -> LabelMap:
        labels, files, chunks, data = self.catalog.label_owners(space, after=after, vectors=vectors)
        if data is not None and data.size * 4 <= FLOAT32_BUDGET:
            data = data.astype(np.float32)
        return LabelMap.of(labels, files, chunks, data)
