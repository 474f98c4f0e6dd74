"""What the events teach: user and item vectors (collaborative filtering), and each
user's content profile (the mean vector of what they opened).

`train` turns events into a `Learned` model: each (user, item) pair weighs the
sum of its actions' weights, each halved every `half_life_days` of age (measured
from the newest event), factorised by implicit ALS (als.py). Recommending mixes two
scores, each as a z-score over the candidates: the model's `user @ item`, for items
people opened, and the cosine of an item's content vector with the user's profile,
for every item (the only score of an item no one opened yet). The weights, the
half-life and the mix are measured on a simulation (bench/bench_recommend.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from searchengine.catalog.browse import SpaceItems
from searchengine.catalog.events import UseEvent
from searchengine.learn.als import Factors, fit_als

# bench/bench_recommend.py: an asked-for "more like this" says less than an open
ACTION_WEIGHTS: Mapping[str, float] = {"open": 1.0, "folder": 1.0, "copy": 1.0, "similar": 0.5}
DEFAULT_HALF_LIFE_DAYS = 60.0
DEFAULT_CONTENT_MIX = 0.25  # share of the content score in a user's recommendations
DAY_S = 86_400.0


@dataclass(frozen=True)
class Learned:
    """User and item vectors of the events up to `stamp` (count, largest id)."""

    stamp: tuple[int, int]
    users: dict[str, int]  # user -> row of factors.users
    items: np.ndarray  # file ids, one per row of factors.items
    factors: Factors
    popularity: np.ndarray  # per row of `items`: how many users acted on it

    def user_vector(self, user: str) -> np.ndarray | None:
        row = self.users.get(user)
        return None if row is None else self.factors.users[row]

    def item_rows(self) -> dict[int, int]:
        return {int(f): r for r, f in enumerate(self.items)}


def pair_weights(
    events: Sequence[UseEvent],
    *,
    action_weights: Mapping[str, float] = ACTION_WEIGHTS,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
) -> dict[tuple[str, int], float]:
    """(user, file id) -> the decayed sum of its actions' weights."""
    if not events:
        return {}
    newest = max(e.at for e in events)
    out: dict[tuple[str, int], float] = {}
    for e in events:
        w = action_weights.get(e.action, 0.0)
        if half_life_days:
            w *= 0.5 ** ((newest - e.at) / (half_life_days * DAY_S))
        key = (e.user, e.file_id)
        out[key] = out.get(key, 0.0) + w
    return out


def train(
    events: Sequence[UseEvent],
    stamp: tuple[int, int] = (0, 0),
    *,
    action_weights: Mapping[str, float] = ACTION_WEIGHTS,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    factors: int | None = None,
    seed: int = 0,
) -> Learned:
    """The model of these events."""
    pairs = pair_weights(events, action_weights=action_weights, half_life_days=half_life_days)
    users = {u: n for n, u in enumerate(sorted({u for u, _ in pairs}))}
    items = np.asarray(sorted({f for _, f in pairs}), dtype=np.int64)
    item_row = {int(f): n for n, f in enumerate(items)}
    rows = np.fromiter((users[u] for u, _ in pairs), dtype=np.int64, count=len(pairs))
    cols = np.fromiter((item_row[f] for _, f in pairs), dtype=np.int64, count=len(pairs))
    weights = np.fromiter(pairs.values(), dtype=np.float64, count=len(pairs))
    kwargs = {} if factors is None else {"factors": factors}
    fitted = fit_als(rows, cols, weights, (len(users), len(items)), seed=seed, **kwargs)
    popularity = np.bincount(cols, minlength=len(items)).astype(np.float64)
    return Learned(stamp, users, items, fitted, popularity)


def zscores(values: np.ndarray) -> np.ndarray:
    spread = float(values.std()) if len(values) else 0.0
    return (values - float(values.mean())) / spread if spread > 0 else np.zeros_like(values)


@dataclass(frozen=True)
class Scored:
    """Candidate items, best first, with the score and what it came from."""

    file_ids: np.ndarray
    scores: np.ndarray
    sources: list[str]  # "together" (people's opens), "content" (like what you opened), "popular"


def score_items(
    learned: Learned | None,
    user: str,
    history: Sequence[UseEvent],
    content: Iterable[SpaceItems],
    *,
    mix: float = DEFAULT_CONTENT_MIX,
    exclude: set[int] | None = None,
    action_weights: Mapping[str, float] = ACTION_WEIGHTS,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
) -> Scored:
    """Every candidate item scored for `user`, whose own events are `history`; items in
    `exclude` left out. A user with no history gets the most popular items."""
    exclude = exclude or set()
    if not history:
        return _popular(learned, exclude)
    spaces = list(content)
    known = [learned.items] if learned is not None else []
    ids = np.unique(np.concatenate([s.ids for s in spaces] + known + [np.zeros(0, np.int64)]))
    position = {int(f): n for n, f in enumerate(ids)}
    weights = pair_weights(history, action_weights=action_weights, half_life_days=half_life_days)
    # content: each space's items against the weighted mean of the user's items in it
    content_score = np.full(len(ids), np.nan)
    for items in spaces:
        where = {int(f): n for n, f in enumerate(items.ids)}
        rows = [(where[f], w) for (_, f), w in weights.items() if f in where and w > 0]
        if rows:
            profile = np.sum([items.vectors[r] * w for r, w in rows], axis=0)
            norm = float(np.linalg.norm(profile))
            if norm > 0:
                at = np.fromiter((position[int(f)] for f in items.ids), np.int64, len(items.ids))
                content_score[at] = items.vectors @ (profile / norm)
    together = np.full(len(ids), np.nan)
    vector = learned.user_vector(user) if learned is not None else None
    if learned is not None and vector is not None:
        at = np.fromiter((position[int(f)] for f in learned.items), np.int64, len(learned.items))
        together[at] = learned.factors.items @ vector
    open_ = np.asarray([int(f) not in exclude for f in ids], dtype=bool)
    ids, content_score, together = ids[open_], content_score[open_], together[open_]
    has_content, has_together = ~np.isnan(content_score), ~np.isnan(together)
    # z-scores over the candidates only: what the user already has is no yardstick
    c = _z_or_floor(content_score)
    t = _z_or_floor(together)
    share = mix if has_together.any() else 1.0
    share = share if has_content.any() else 0.0
    score = (1.0 - share) * t + share * c
    keep = has_content | has_together
    order = np.argsort(-score[keep], kind="stable")
    kept = np.flatnonzero(keep)[order]
    # "together": people's opens scored it; "content": only its likeness did
    sources = ["together" if has_together[i] and share < 1.0 else "content" for i in kept]
    return Scored(ids[kept], score[kept], sources)


def _z_or_floor(values: np.ndarray) -> np.ndarray:
    """z-scores of the known values; the unknown ones below all of them."""
    out = np.zeros(len(values))
    known = ~np.isnan(values)
    if known.any():
        out[known] = zscores(values[known])
        out[~known] = float(out[known].min()) - 1.0
    return out


def _popular(learned: Learned | None, exclude: set[int]) -> Scored:
    if learned is None or not len(learned.items):
        return Scored(np.zeros(0, np.int64), np.zeros(0), [])
    order = np.argsort(-learned.popularity, kind="stable")
    kept = [i for i in order if int(learned.items[i]) not in exclude]
    return Scored(learned.items[kept], learned.popularity[kept], ["popular"] * len(kept))


def together_with(learned: Learned, file_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(file ids, cosine) of the items whose vectors point the way this item's does, best
    first; nothing when no one opened it."""
    row = learned.item_rows().get(file_id)
    if row is None or len(learned.items) < 2:
        return np.zeros(0, np.int64), np.zeros(0)
    vectors = learned.factors.items
    norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
    cosine = (vectors @ vectors[row]) / (norms * norms[row])
    cosine[row] = -np.inf
    order = np.argsort(-cosine, kind="stable")
    order = order[cosine[order] > 0]  # unrelated (orthogonal) items are no answer
    return learned.items[order], cosine[order]


def personal_terms(learned: Learned, user: str, file_ids: Sequence[int]) -> dict[int, float]:
    """The user's model score of each of these items that has a vector, as a z-score over
    every item of the model; empty for a user the model does not know. The search no
    longer adds it (it did not raise MRR@10 beyond noise, and lowered it on questions
    asked again: docs/learning.md); bench/bench_recommend.py still measures it."""
    vector = learned.user_vector(user)
    if vector is None:
        return {}
    everything = zscores(learned.factors.items @ vector)
    rows = learned.item_rows()
    return {int(f): float(everything[rows[int(f)]]) for f in file_ids if int(f) in rows}
