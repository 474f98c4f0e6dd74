"""The items least like the rest, and groups of near-duplicates, in each space.

An item's outlier score is, by `method`, the mean cosine distance to its k nearest
neighbours in its own space (found with hnswlib: "knn"), or how badly an
autoencoder trained on the space rebuilds it ("autoencoder", autoencoder.py).
Scores of two spaces are not comparable, so each space gets its own list, and `z`
(the score as a z-score within its space) says how unusual an item is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import hnswlib
import numpy as np

from searchengine.catalog import Catalog
from searchengine.catalog.browse import SpaceItems, space_items
from searchengine.explore.autoencoder import reconstruction_errors
from searchengine.records import SPACES

DEFAULT_NEIGHBOURS = 5
DEFAULT_DUPLICATE_DISTANCE = 0.01  # cosine distance under which two items are near-duplicates
DEFAULT_OUTLIER_LIMIT = 50
OUTLIER_SPACES = SPACES
OutlierMethod = Literal["knn", "autoencoder"]
OUTLIER_METHODS: tuple[str, ...] = get_args(OutlierMethod)


@dataclass(frozen=True)
class Outlier:
    id: int
    path: str
    kind: str
    space: str
    score: float  # mean cosine distance to the k nearest neighbours, or reconstruction error
    z: float  # the score as a z-score within its space

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "space": self.space,
            "score": round(self.score, 6),
            "z": round(self.z, 3),
        }


@dataclass(frozen=True)
class OutlierReport:
    """Most unusual first, per space; near-duplicate groups, largest first."""

    neighbours: int
    spaces: dict[str, list[Outlier]] = field(default_factory=dict)
    duplicates: list[list[dict[str, object]]] = field(default_factory=list)
    method: str = "knn"

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "neighbours": self.neighbours,
            "spaces": {name: [o.to_json() for o in items] for name, items in self.spaces.items()},
            "duplicates": self.duplicates,
        }


def find_outliers(
    catalog: Catalog,
    *,
    k: int = DEFAULT_NEIGHBOURS,
    limit: int = DEFAULT_OUTLIER_LIMIT,
    duplicate_distance: float = DEFAULT_DUPLICATE_DISTANCE,
    method: str = "knn",
) -> OutlierReport:
    """Score every item of each space by `method`; keep the `limit` most unusual of each.
    Near-duplicates are found by the k nearest neighbours either way."""
    spaces: dict[str, list[Outlier]] = {}
    duplicates: list[list[dict[str, object]]] = []
    for name in OUTLIER_SPACES:
        if catalog.space(name) is None:
            continue
        items = space_items(catalog, name)
        if len(items.ids) < 3:  # no neighbourhood to stand out from
            continue
        labels, dists = nearest(items.vectors, k)
        scores = outlier_scores(items.vectors, dists, method)
        spread = float(scores.std()) or 1.0
        z = (scores - float(scores.mean())) / spread
        order = np.argsort(-scores, kind="stable")[:limit]
        spaces[name] = [
            Outlier(
                int(items.ids[i]),
                items.paths[i],
                items.kinds[i],
                name,
                float(scores[i]),
                float(z[i]),
            )
            for i in order
        ]
        duplicates += _groups(items, labels, dists, duplicate_distance)
    duplicates.sort(key=len, reverse=True)
    return OutlierReport(k, spaces, duplicates, method)


def outlier_scores(vectors: np.ndarray, dists: np.ndarray, method: str) -> np.ndarray:
    """Each item's score: its mean distance to its neighbours (`dists`, "knn"), or its
    reconstruction error ("autoencoder")."""
    if method == "autoencoder":
        return reconstruction_errors(vectors)
    return np.asarray(dists.mean(axis=1), dtype=np.float64)


def nearest(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the rows of its k nearest others and their cosine distances."""
    n, dim = vectors.shape
    k = max(1, min(k, n - 1))
    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=n, ef_construction=200, M=16, random_seed=0)
    index.add_items(vectors, np.arange(n), num_threads=1)
    index.set_ef(max(64, 2 * (k + 1)))
    labels, dists = index.knn_query(vectors, k=min(k + 1, n), num_threads=1)
    rows = np.arange(n)[:, None]
    # drop each row itself; where an exact duplicate took its place, drop the last instead
    is_self = labels == rows
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), labels.shape[1] - 1)
    keep = np.ones_like(labels, dtype=bool)
    keep[np.arange(n), drop] = False
    labels = labels[keep].reshape(n, -1)[:, :k]
    dists = np.maximum(dists[keep].reshape(n, -1)[:, :k], 0.0)
    return labels, dists


def _groups(
    items: SpaceItems, labels: np.ndarray, dists: np.ndarray, limit: float
) -> list[list[dict[str, object]]]:
    """Connected groups of items closer than `limit` to one another (union-find)."""
    parent = list(range(len(items.ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(dists <= limit), strict=True):
        a, b = root(int(i)), root(int(labels[i, j]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for i in range(len(parent)):
        members.setdefault(root(i), []).append(i)
    return [
        [{"id": int(items.ids[i]), "path": items.paths[i], "space": items.space} for i in group]
        for group in members.values()
        if len(group) > 1
    ]
