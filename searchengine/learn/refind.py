"""Re-finding: what a person opened after a query like this one.

Looking for something again is the commonest thing a person does with their own
search: in a web search log about 40% of queries sought what the same person had
found before (Teevan et al., "Information re-retrieval", SIGIR 2007). The events keep
each open's query, so a new query can be set against the user's past ones: where it
is close to one of them (the cosine of their e5 query vectors at least
`REFIND_CLOSENESS`), what they opened after that one gains on the hybrid score, the
more the closer (0 at the threshold, 1 for the same words, times the action's weight).
A query unlike all of them changes nothing, so a person's other topics, and a user
without history, see the plain ranking. The threshold and the weight are measured on a
simulation (bench/bench_recommend.py, docs/learning.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from searchengine.catalog.events import UseEvent
from searchengine.learn.model import ACTION_WEIGHTS
from searchengine.records import Hit, Results, Vectors

# e5-small query cosines: the same question reworded or cut short ~0.9-1.0, two
# questions of one topic ~0.85-0.9, of two topics ~0.82-0.86 (bench/bench_recommend.py)
REFIND_CLOSENESS = 0.96
DEFAULT_REFIND_WEIGHT = 1.5  # on hybrid scores of ~2-5, neighbours ~0.7 apart
MAX_PAST_QUERIES = 1000  # the user's most recent distinct queries looked at
PERSONAL_POOL = 30  # how many of the first hits the term may reorder


@dataclass(frozen=True)
class PastQueries:
    """A user's past queries, one vector a row, and what they acted on after each:
    file id -> the largest action weight."""

    queries: tuple[str, ...]
    vectors: Vectors
    opened: tuple[Mapping[int, float], ...]


def past_queries(
    history: Sequence[UseEvent],
    encode: Callable[[list[str]], Vectors],
    *,
    action_weights: Mapping[str, float] = ACTION_WEIGHTS,
    limit: int = MAX_PAST_QUERIES,
) -> PastQueries | None:
    """The queries of `history` (a user's events, oldest first) that led to an action,
    the newest `limit` of them; None when there is none."""
    opened: dict[str, dict[int, float]] = {}
    for e in reversed(history):  # newest first, so the limit keeps the recent ones
        if not e.query:
            continue
        if e.query not in opened:
            if len(opened) >= limit:
                continue
            opened[e.query] = {}
        after = opened[e.query]
        after[e.file_id] = max(after.get(e.file_id, 0.0), action_weights.get(e.action, 0.0))
    if not opened:
        return None
    queries = tuple(opened)
    return PastQueries(queries, encode(list(queries)), tuple(opened[q] for q in queries))


def refind_terms(
    past: PastQueries, query: np.ndarray, *, closeness: float = REFIND_CLOSENESS
) -> dict[int, float]:
    """file id -> its re-finding term for a query of vector `query`: over the past
    queries at least `closeness` to it, the largest ramp (0 at `closeness`, 1 at the
    same vector) times the weight of what was done with the file after that query."""
    cosine = past.vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
    strength = np.clip((cosine - closeness) / (1.0 - closeness), 0.0, 1.0)
    out: dict[int, float] = {}
    for row in np.flatnonzero(strength > 0):
        for file_id, weight in past.opened[row].items():
            term = float(strength[row]) * weight
            if term > out.get(file_id, 0.0):
                out[file_id] = term
    return out


def personal_order(
    results: Results, terms: Mapping[int, float], weight: float, offset: int, k: int
) -> Results:
    """`results` (a pool from the first hit) with `weight` times each hit's term added to
    its score, reordered, then the page at `offset`. A hit's `good` stays as it was.

    Scores of two spaces do not compare (the lists are merged by rank): each space's hits
    are reordered among themselves, in the places that space's hits held."""
    hits = [
        replace(
            h,
            score=h.score + weight * terms[h.file_id],
            extra={**h.extra, "personal": round(terms[h.file_id], 4)},
        )
        if h.file_id in terms
        else h
        for h in results.hits
    ]
    places: dict[str, list[int]] = {}
    for i, h in enumerate(hits):
        places.setdefault(h.space, []).append(i)
    ordered = list(hits)
    for at in places.values():
        # a hit with a term goes before the first of its space's other hits that it now
        # outscores; those keep their order (no term: nothing moves)
        lifted = sorted((hits[i] for i in at if hits[i].file_id in terms), key=lambda h: -h.score)
        mine: list[Hit] = []
        for h in (hits[i] for i in at if hits[i].file_id not in terms):
            while lifted and lifted[0].score > h.score:
                mine.append(lifted.pop(0))
            mine.append(h)
        mine += lifted
        for i, h in zip(at, mine, strict=True):
            ordered[i] = h
    return replace(results, hits=tuple(ordered[offset : offset + k]), offset=offset, k=k)
