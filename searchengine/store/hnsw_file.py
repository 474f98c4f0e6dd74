"""The hnswlib index file, read without trusting it.

hnswlib 0.8 writes a 96-byte header, then one fixed-size level-0 record per
element (a link header whose third byte carries the deleted mark, the links,
the vector, the label), then each element's upper-level links. hnswlib checks
none of the header against the dimension it is asked to load with, so a foreign
or truncated file would be read as garbage, and its Python API cannot list the
deleted labels. Both are read here, straight from the file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from searchengine.errors import IndexCorruptError
from searchengine.records import FileStamp

# offset_level0, max_elements, count, bytes per element, label offset, data offset,
# max level, entry point, maxM, maxM0, M, level multiplier, ef_construction
HEADER = struct.Struct("<6QiI3QdQ")
DELETED_MARK = 0x01  # in byte 2 of an element's level-0 link header
_MAX_LABEL = 1 << 62  # vector ids are SQLite integers; anything larger is not ours


@dataclass(frozen=True)
class FileScan:
    """An index file's header and labels, checked against the expected dimension."""

    dim: int
    count: int  # elements, deleted ones included
    max_elements: int
    labels: np.ndarray  # live labels, sorted
    deleted_labels: np.ndarray  # labels marked deleted, sorted
    bytes: int

    @property
    def stamp(self) -> FileStamp:
        return FileStamp(len(self.labels), len(self.deleted_labels), self.bytes)


def scan_file(path: Path, dim: int) -> FileScan:
    """Read the header and every label and deleted mark of the index file at `path`."""
    try:
        with open(path, "rb") as fh:
            return scan_open_file(fh, path, dim)
    except OSError as exc:
        raise IndexCorruptError(f"cannot read index file {path}: {exc.strerror}") from exc


def scan_open_file(fh: BinaryIO, path: Path, dim: int) -> FileScan:
    """Like scan_file, on a file already open (so a rename cannot swap it midway)."""
    size = os.fstat(fh.fileno()).st_size
    raw = fh.read(HEADER.size)
    if len(raw) < HEADER.size:
        raise IndexCorruptError(f"index file {path} is truncated")
    (offset0, max_elements, count, per_element, label_offset, data_offset, _, entry, max_m,
     max_m0, _m, _mult, _efc) = HEADER.unpack(raw)  # fmt: skip
    stored_dim = (label_offset - data_offset) // 4 if label_offset > data_offset else -1
    if stored_dim != dim:
        raise IndexCorruptError(
            f"index file {path} holds vectors of dimension {stored_dim}, expected {dim}"
        )
    layout_ok = (
        offset0 == 0
        and data_offset == 4 + 4 * max_m0
        and per_element == label_offset + 8
        and 0 < max_m <= max_m0 <= 4096
        and count <= max_elements
        and (count == 0 or entry < count)
    )
    if not layout_ok:
        raise IndexCorruptError(f"index file {path} is not an hnswlib index of this kind")
    # every element has its level-0 record and a 4-byte size of its upper links
    if size < HEADER.size + count * (per_element + 4):
        raise IndexCorruptError(f"index file {path} is truncated")
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return FileScan(dim, 0, max_elements, empty, empty, size)
    records = np.memmap(
        fh, dtype=np.uint8, mode="r", offset=HEADER.size, shape=(count, per_element)
    )
    deleted = (records[:, 2] & DELETED_MARK).astype(bool)
    raw_labels = records[:, label_offset : label_offset + 8].copy().view("<u8").ravel()
    del records
    if int(raw_labels.max()) >= _MAX_LABEL or len(np.unique(raw_labels)) != count:
        raise IndexCorruptError(f"index file {path} holds labels that are not vector ids")
    labels = raw_labels.astype(np.int64)
    return FileScan(
        dim, count, max_elements, np.sort(labels[~deleted]), np.sort(labels[deleted]), size
    )
