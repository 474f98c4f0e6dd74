"""The items least like the rest, and groups of near-duplicates, in each space.

An item's outlier score is, by `method`, the mean cosine distance to its k nearest
neighbours in its own space (found with hnswlib: "knn"), or how badly an
autoencoder trained on the space rebuilds it ("autoencoder", autoencoder.py).
Scores of two spaces are not comparable, so each space gets its own list, and `z`
(the score as a z-score within its space) says how unusual an item is there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import hnswlib
import numpy as np

from searchengine.catalog import Catalog
from searchengine.catalog.browse import SpaceItems, item, space_items
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


# After a run: the new items an autoencoder finds this unusual are listed in `status`
NEW_OUTLIER_Z = 3.0
NEW_OUTLIERS_FILE = "new-outliers.json"
MIN_SCAN_ITEMS = 20  # fewer items in a space: too few to learn what is usual there
KEEP_NEW_OUTLIERS = 100


def scan_new_outliers(catalog: Catalog, folder: Path, *, z: float = NEW_OUTLIER_Z) -> list[Outlier]:
    """Score every item of each space with the autoencoder; keep the items added since
    the last scan (file ids above the last one it saw) whose z-score is above `z`, and
    write them, with those found before and the newest file id, to NEW_OUTLIERS_FILE in
    the index folder (`status` reads it)."""
    path = folder / NEW_OUTLIERS_FILE
    seen, before = _read_scan(path)
    found: list[Outlier] = []
    last = seen
    for name in OUTLIER_SPACES:
        if catalog.space(name) is None:
            continue
        items = space_items(catalog, name)
        if not len(items.ids):
            continue
        last = max(last, int(items.ids.max()))
        if len(items.ids) < MIN_SCAN_ITEMS:
            continue
        scores = reconstruction_errors(items.vectors)
        spread = float(scores.std()) or 1.0
        zs = (scores - float(scores.mean())) / spread
        for i in np.flatnonzero((items.ids > seen) & (zs > z)):
            found.append(
                Outlier(
                    int(items.ids[i]),
                    items.paths[i],
                    items.kinds[i],
                    name,
                    float(scores[i]),
                    float(zs[i]),
                )
            )
    found.sort(key=lambda o: -o.z)
    new_ids = {o.id for o in found}
    kept = [o.to_json() for o in found] + [i for i in before if i["id"] not in new_ids]
    record = {"last_file_id": last, "items": kept[:KEEP_NEW_OUTLIERS]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return found


def new_outliers(catalog: Catalog, folder: Path, limit: int = 20) -> list[dict[str, object]]:
    """The unusual new items that the scans after runs found, most unusual first; only
    those still indexed."""
    _, items = _read_scan(folder / NEW_OUTLIERS_FILE)
    alive = [i for i in items if item(catalog, int(str(i["id"]))) is not None]
    alive.sort(key=lambda i: -float(str(i["z"])))
    return alive[:limit]


def _read_scan(path: Path) -> tuple[int, list[dict[str, object]]]:
    """(the last file id scanned, the unusual items found) of a scan file; none: (0, [])."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["last_file_id"]), [dict(i) for i in data["items"]]
    except (OSError, ValueError, KeyError, TypeError):
        return 0, []
