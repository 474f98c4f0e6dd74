"""Reads that browse the collection rather than answer a query: one item, every item.

Plain functions over a `Catalog`, for the item view, the map and the outliers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select

from searchengine.catalog.rows import stack_vectors, valid_vectors_of
from searchengine.catalog.schema import Chunk, File, Space, Vector
from searchengine.records import Vectors

if TYPE_CHECKING:
    from searchengine.catalog.db import Catalog

PREVIEW_CHARS = 4000  # the item view shows this much of a document's text


@dataclass(frozen=True)
class Item:
    """One indexed file, as the item view shows it."""

    id: int
    path: str
    kind: str
    size: int
    mtime_ns: int
    chunks: int
    pages: int | None
    preview: str  # the start of its extracted text ("" for images)
    within: str | None = None  # the file on disk that holds it (a mail, of its attachment)

    @property
    def on_disk(self) -> str:
        """The file on disk to open or show for it: itself, or the file that holds it."""
        return self.within or self.path

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "mtime": self.mtime_ns / 1e9,
            "chunks": self.chunks,
            "pages": self.pages,
            "preview": self.preview,
        }
        if self.within is not None:
            out["within"] = self.within
        return out


def item(catalog: Catalog, file_id: int) -> Item | None:
    """The indexed (not skipped) file with this catalog id, or None."""
    with catalog.session() as s:
        row = s.get(File, int(file_id))
        if row is None or row.skip_reason is not None:
            return None
        chunks = s.execute(
            select(Chunk.text, Chunk.start, Chunk.page)
            .where(Chunk.file_id == row.id)
            .order_by(Chunk.ordinal)
        ).all()
        pages = s.scalar(select(func.max(Chunk.page)).where(Chunk.file_id == row.id))
        preview = _preview([(t, st) for t, st, _ in chunks])
        within = (
            s.scalar(select(File.path).where(File.id == row.parent_id)) if row.parent_id else None
        )
        return Item(
            row.id, row.path, row.kind, row.size, row.mtime_ns, len(chunks), pages, preview, within
        )


def _preview(chunks: list[tuple[str, int]]) -> str:
    """The text of the first chunks, overlaps removed, cut at PREVIEW_CHARS."""
    out = ""
    for text, _start in chunks:
        if len(out) >= PREVIEW_CHARS:
            break
        # chunks overlap: skip what the previous chunk already ended with
        overlap = (
            next((n for n in range(min(len(out), len(text)), 0, -1) if out.endswith(text[:n])), 0)
            if out
            else 0
        )
        out += ("" if not out or overlap else " ") + text[overlap:]
    return out[:PREVIEW_CHARS]


@dataclass(frozen=True)
class SpaceItems:
    """Every item of one space, one vector each (the mean of a document's chunks)."""

    space: str
    generation: int
    ids: np.ndarray  # catalog file ids, ascending
    paths: list[str]
    kinds: list[str]
    mtimes: np.ndarray  # seconds
    vectors: Vectors  # one L2-normalized row per id


def space_items(catalog: Catalog, space: str, batch: int = 20_000) -> SpaceItems:
    """One vector per indexed file of `space`: its image, or its chunks' normalized mean."""
    info = catalog.space(space)
    generation = info.index_generation if info else 0
    dim = info.dim if info else 0
    ids: list[int] = []
    sums: list[np.ndarray] = []
    for fids, vecs in _vectors_by_file(catalog, space, batch):
        # rows come sorted by file id: add up each run of one file's rows
        starts = np.flatnonzero(np.r_[True, fids[1:] != fids[:-1]])
        summed = np.add.reduceat(vecs, starts, axis=0)
        run_ids = fids[starts]
        if ids and run_ids[0] == ids[-1]:  # a file split across two batches
            sums[-1][-1] += summed[0]
            summed, run_ids = summed[1:], run_ids[1:]
        ids.extend(int(x) for x in run_ids)
        sums.append(summed)
    vectors = np.concatenate(sums) if sums else np.zeros((0, dim), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    id_array = np.asarray(ids, dtype=np.int64)
    paths, kinds, mtimes = _file_rows(catalog, ids)
    return SpaceItems(space, generation, id_array, paths, kinds, mtimes, vectors)


def _vectors_by_file(
    catalog: Catalog, space: str, batch: int
) -> Iterator[tuple[np.ndarray, Vectors]]:
    last = (0, 0)
    while True:
        with catalog.session() as s:
            rows = s.execute(
                select(Vector.file_id, Vector.id, Vector.data)
                .join(Space, Space.name == Vector.space)
                .join(File, File.id == Vector.file_id)
                .where(*valid_vectors_of(space), File.skip_reason.is_(None))
                .where(
                    (Vector.file_id > last[0])
                    | ((Vector.file_id == last[0]) & (Vector.id > last[1]))
                )
                .order_by(Vector.file_id, Vector.id)
                .limit(batch)
            ).all()
        if not rows:
            return
        fids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        yield fids, stack_vectors(r[2] for r in rows).astype(np.float64)
        last = (int(rows[-1][0]), int(rows[-1][1]))


def _file_rows(catalog: Catalog, ids: list[int]) -> tuple[list[str], list[str], np.ndarray]:
    found: dict[int, tuple[str, str, int]] = {}
    with catalog.session() as s:
        for at in range(0, len(ids), 900):
            part = ids[at : at + 900]
            for fid, path, kind, mtime in s.execute(
                select(File.id, File.path, File.kind, File.mtime_ns).where(File.id.in_(part))
            ):
                found[int(fid)] = (path, kind, mtime)
    rows = [found[i] for i in ids]
    return (
        [r[0] for r in rows],
        [r[1] for r in rows],
        np.asarray([r[2] / 1e9 for r in rows], dtype=np.float64),
    )
