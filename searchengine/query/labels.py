"""Which file and chunk each vector label belongs to, held in memory between searches.

A search turns the nearest labels into files, and scores every chunk of each
file in its pool. Asking the catalog for both on every query was most of the
dense lookup (issue 15: 5.9 ms of it at 1,200 chunks, and growing with the
corpus). The owners of every label are three integer arrays (24 bytes a
vector), read in one query and kept until the catalog changes
(`Catalog.change_stamp`); a pooled file's chunk vectors are then read by
label, the primary key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from searchengine.catalog import Catalog


@dataclass(frozen=True)
class LabelMap:
    """The owners of a space's labels: sorted labels, and by file."""

    labels: np.ndarray  # sorted
    files: np.ndarray  # the file of each label
    chunks: np.ndarray  # the chunk of each label, -1 for an image
    by_file: np.ndarray  # positions into `labels`, sorted by (file, label)

    @classmethod
    def read(cls, catalog: Catalog, space: str) -> LabelMap:
        labels, files, chunks = catalog.label_owners(space)
        return cls(labels, files, chunks, np.lexsort((labels, files)))

    def owners(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(known, file ids, chunk ids) of `labels`; `known` marks those in the map."""
        labels = np.asarray(labels, dtype=np.int64)
        if not len(self.labels):
            nothing = np.zeros(len(labels), dtype=np.int64)
            return np.zeros(len(labels), dtype=bool), nothing, nothing
        at = np.minimum(np.searchsorted(self.labels, labels), len(self.labels) - 1)
        return self.labels[at] == labels, self.files[at], self.chunks[at]

    def of_files(self, file_ids: list[int]) -> tuple[np.ndarray, set[int]]:
        """The labels of these files, and the files the map does not know."""
        files = self.files[self.by_file]
        wanted = np.asarray(file_ids, dtype=np.int64)
        start = np.searchsorted(files, wanted, side="left")
        end = np.searchsorted(files, wanted, side="right")
        missing = {int(f) for f, a, b in zip(wanted, start, end, strict=True) if a == b}
        if not len(wanted):
            return np.zeros(0, dtype=np.int64), missing
        rows = np.concatenate([self.by_file[a:b] for a, b in zip(start, end, strict=True)])
        return self.labels[np.sort(rows)], missing


class LabelMaps:
    """One LabelMap per space, read again when the catalog has changed."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._maps: dict[str, tuple[int, LabelMap]] = {}
        self._lock = threading.Lock()

    def get(self, space: str) -> LabelMap:
        stamp = self.catalog.change_stamp()
        with self._lock:
            held = self._maps.get(space)
            if held is not None and held[0] == stamp:
                return held[1]
        fresh = LabelMap.read(self.catalog, space)
        with self._lock:
            self._maps[space] = (stamp, fresh)
        return fresh
