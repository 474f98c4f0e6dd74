"""A 2-D map of the collection: PCA at once, an openTSNE layout cached per index generation.

Scores of two spaces are not comparable, and neither are their geometries, so
each space (text, image) is laid out on its own, scaled into a unit square, and
the image square is drawn to the right of the text square. A document is placed
by the mean of its chunk vectors; an image by its vector.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from searchengine.catalog import Catalog
from searchengine.catalog.browse import SpaceItems, space_items
from searchengine.records import SPACES

log = logging.getLogger(__name__)

Method = Literal["pca", "tsne"]
METHODS: tuple[Method, ...] = get_args(Method)
MAP_SPACES = SPACES  # a space and the kind of item it places
SPACE_GAP = 0.15  # between the squares of two spaces, in units of one square
TSNE_MIN_ITEMS = 12  # fewer items than this: t-SNE has nothing to add to PCA
PLACE_MAX_SHARE = 0.2  # new items up to this share join the last layout; more: a new t-SNE
PLACE_NEIGHBOURS = 10  # a new item goes to the median place of this many nearest old ones
CACHE_FOLDER = "map"


@dataclass(frozen=True)
class MapPoint:
    id: int
    x: float
    y: float
    kind: str
    path: str


@dataclass(frozen=True)
class CollectionMap:
    """Every item at a point; `method` says which layout placed them."""

    method: Method
    ids: np.ndarray
    xy: np.ndarray  # (n, 2), each space in its own unit square
    kinds: list[str]
    paths: list[str]
    generation: str  # changes whenever any space's index does

    def __len__(self) -> int:
        return len(self.ids)

    def points(self) -> list[MapPoint]:
        return [
            MapPoint(int(i), float(x), float(y), k, p)
            for i, (x, y), k, p in zip(self.ids, self.xy, self.kinds, self.paths, strict=True)
        ]

    def to_json(self) -> dict[str, object]:
        """Columns rather than records: 100k points stay a few megabytes."""
        return {
            "method": self.method,
            "generation": self.generation,
            "count": len(self),
            "ids": [int(i) for i in self.ids],
            "x": [round(float(v), 5) for v in self.xy[:, 0]],
            "y": [round(float(v), 5) for v in self.xy[:, 1]],
            "kinds": self.kinds,
            "paths": self.paths,
        }


def compute_map(
    catalog: Catalog, folder: Path | None, method: Method = "pca", *, cached_only: bool = False
) -> CollectionMap:
    """Place every item. With `method="tsne"`, a layout cached in `folder` for this
    generation is reused, else computed and cached; `cached_only` then falls back to
    PCA instead of computing (for an answer that must come at once)."""
    found = [_items_of(catalog, name) for name in MAP_SPACES]
    parts: list[SpaceItems] = [p for p in found if p is not None and len(p.ids)]
    used: Method = method
    blocks = []
    for at, items in enumerate(parts):
        coords = None
        if method == "tsne":
            coords = _cached_tsne(items, folder) if folder else None
            if coords is None and folder is not None:
                coords = _placed(items, folder)  # a few new items join the last layout
                if coords is not None:
                    _save_cache(folder, items, coords)
            if coords is None and not cached_only:
                coords = tsne_2d(items.vectors)
                if folder is not None:
                    _save_cache(folder, items, coords)
        if coords is None:
            coords = pca_2d(items.vectors)
            used = "pca"
        square = _unit_square(coords)
        square[:, 0] += at * (1.0 + SPACE_GAP)
        blocks.append(square)
    xy = np.concatenate(blocks) if blocks else np.zeros((0, 2))
    return CollectionMap(
        used,
        np.concatenate([p.ids for p in parts]) if parts else np.zeros(0, dtype=np.int64),
        xy,
        [k for p in parts for k in p.kinds],
        [x for p in parts for x in p.paths],
        generation_of(catalog),
    )


def generation_of(catalog: Catalog) -> str:
    """A stamp that changes whenever an index file of a mapped space is saved anew."""
    return "-".join(
        f"{s.name}{s.index_generation}.{s.index_count}"
        for s in catalog.spaces()
        if s.name in MAP_SPACES
    )


def _items_of(catalog: Catalog, space: str) -> SpaceItems | None:
    if catalog.space(space) is None:
        return None
    items = space_items(catalog, space)
    keep = np.asarray([k == space for k in items.kinds], dtype=bool)  # e.g. a PDF's pictures
    if keep.all():
        return items
    return SpaceItems(
        items.space,
        items.generation,
        items.ids[keep],
        [p for p, k in zip(items.paths, keep, strict=True) if k],
        [x for x, k in zip(items.kinds, keep, strict=True) if k],
        items.mtimes[keep],
        items.vectors[keep],
    )


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components (an SVD of the centred rows)."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2))
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    if n == 1 or not np.any(centred):
        return np.zeros((n, 2))
    # for many rows, the small covariance matrix is cheaper than an SVD of the rows
    cov = centred.T @ centred
    values, vecs = np.linalg.eigh(cov)
    top = vecs[:, np.argsort(values)[::-1][:2]]
    out = centred @ top
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out


def tsne_2d(vectors: np.ndarray, *, n_jobs: int = 1, seed: int = 0) -> np.ndarray:
    """An openTSNE layout, started from PCA (stable from run to run)."""
    n = len(vectors)
    if n < TSNE_MIN_ITEMS:
        return pca_2d(vectors)
    from openTSNE import TSNE

    perplexity = float(min(30.0, (n - 1) / 3.0))
    tsne = TSNE(
        perplexity=perplexity,
        metric="cosine",
        n_jobs=n_jobs,
        random_state=seed,
        initialization="pca",
        verbose=False,
    )
    return np.asarray(tsne.fit(vectors.astype(np.float64)))


def _unit_square(coords: np.ndarray) -> np.ndarray:
    if len(coords) == 0:
        return np.zeros((0, 2))
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    if span <= 0:
        return np.full((len(coords), 2), 0.5)
    out = (coords - lo) / span
    return out + (1.0 - out.max(axis=0)) / 2.0  # centre the shorter side


# the cache: one file per space, named for its generation and the ids it places


def _cache_path(folder: Path, items: SpaceItems) -> Path:
    digest = hashlib.sha1(items.ids.tobytes() + items.vectors[:64].tobytes()).hexdigest()[:12]
    return folder / CACHE_FOLDER / f"tsne-{items.space}-g{items.generation}-{digest}.npz"


def _load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as data:
            return np.asarray(data["ids"]), np.asarray(data["xy"])
    except (OSError, ValueError, KeyError):
        return None


def _cached_tsne(items: SpaceItems, folder: Path) -> np.ndarray | None:
    found = _load(_cache_path(folder, items))
    if found is None or not np.array_equal(found[0], items.ids):
        return None
    return found[1]


def _placed(items: SpaceItems, folder: Path) -> np.ndarray | None:
    """The last cached layout of this space with the new items placed among their nearest
    old neighbours (openTSNE's median initialisation), when few items are new; else None."""
    # the newest by time: names sort g10 before g9, and a shared catalog's writers
    # save no index generations at all
    older = sorted(
        (folder / CACHE_FOLDER).glob(f"tsne-{items.space}-*.npz"),
        key=lambda p: p.stat().st_mtime_ns,
    )
    found = _load(older[-1]) if older else None
    if found is None:
        return None
    old_ids, old_xy = found
    known = np.isin(items.ids, old_ids)
    new = np.flatnonzero(~known)
    if known.sum() < TSNE_MIN_ITEMS or len(new) > PLACE_MAX_SHARE * len(items.ids):
        return None
    coords = np.zeros((len(items.ids), 2))
    coords[known] = old_xy[np.searchsorted(old_ids, items.ids[known])]
    anchors = np.flatnonzero(known)
    k = min(PLACE_NEIGHBOURS, max(3, len(anchors) // 20), len(anchors))  # few: stay local
    for at in range(0, len(new), 1024):
        rows = new[at : at + 1024]
        sims = items.vectors[rows] @ items.vectors[anchors].T
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        coords[rows] = np.median(coords[anchors][nearest], axis=1)
    log.info("placed %d new %s items on the last map", len(new), items.space)
    return coords


def _save_cache(folder: Path, items: SpaceItems, coords: np.ndarray) -> None:
    path = _cache_path(folder, items)
    try:
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, ids=items.ids, xy=coords)
        os.replace(tmp, path)
        for old in path.parent.glob(f"tsne-{items.space}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)  # older generations are of no more use
        log.info("cached the t-SNE map of %d %s items", len(items.ids), items.space)
    except OSError as exc:  # a read-only index folder still gets its map, uncached
        log.info("could not cache the map: %s", exc)
