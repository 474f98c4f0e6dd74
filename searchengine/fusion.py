"""How scores from different rankers become one order, and what counts as a good match.

Dense scores are cosine similarities whose scale depends on the model (e5's
are compressed into roughly 0.75-0.95), so neither fusion nor the "good match"
cut-off uses them raw. Each query's dense scores are turned into z-scores
against the same query's similarities to a fixed sample of the index
(`Background`): how far above an unrelated passage a hit stands. Lexical BM25
scores are divided by the query's best BM25 score. A hybrid score is then a
weighted sum of the two (a convex-combination fusion: on our labelled sets it
kept dense's recall@1 where reciprocal-rank fusion lowered it, see README).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .records import Vectors

# Weight of the normalised BM25 score against the dense z-score, chosen on
# the labelled sets in evalsets/ (bench/tune_fusion.py prints the grid).
LEXICAL_WEIGHT = 1.0
# Queries that carry identifiers or numbers (`dpkg-divert`, `0x80070005`,
# `2024`) are the ones dense models miss; they lean on BM25 harder.
LEXICAL_WEIGHT_EXACT = 4.0

# Per-model z-score above which a hit is a good match, calibrated in
# bench/calibrate_match.py on answered vs unanswerable labelled queries.
GOOD_MATCH_Z: dict[str, float] = {
    "e5-small": 3.0,
    "semsearch-clip": 3.0,
}
UNCALIBRATED_Z = 3.0  # models nobody calibrated: the e5-small value, marked as a guess

_EXACT_TOKEN = re.compile(r"\d|\w[-_./:]\w|(^|\s)[-_./]+\w|\w_")

RRF_K = 60  # reciprocal-rank constant for merging text and image lists
BACKGROUND_SIZE = 1024


class Background:
    """A fixed sample of an index's vectors: the scale of unrelated similarity."""

    def __init__(self, sample: Vectors):
        self.sample = np.asarray(sample, dtype=np.float32)

    def zscore(self, query: Vectors, scores: np.ndarray) -> np.ndarray:
        """`scores` of `query` as standard deviations above its mean similarity."""
        if len(self.sample) < 2:
            return np.asarray(scores, dtype=np.float64)
        sims = self.sample @ np.asarray(query, dtype=np.float32)[0]
        mean, std = float(sims.mean()), float(sims.std())
        return (np.asarray(scores, dtype=np.float64) - mean) / max(std, 1e-6)


def good_match_z(model: str) -> tuple[float, bool]:
    """The model's good-match z-score and whether it was calibrated."""
    if model in GOOD_MATCH_Z:
        return GOOD_MATCH_Z[model], True
    return UNCALIBRATED_Z, False


def looks_exact(query: str) -> bool:
    """Whether the query carries an identifier, a path or a number."""
    return bool(_EXACT_TOKEN.search(query))


def lexical_weight(query: str) -> float:
    return LEXICAL_WEIGHT_EXACT if looks_exact(query) else LEXICAL_WEIGHT


@dataclass
class Scored:
    """One file's evidence for a query, before ordering."""

    file_id: int
    dense_z: float | None = None  # z-score of its best chunk (None: not computed)
    cosine: float | None = None
    dense_chunk: int | None = None  # its best chunk by meaning (None for images)
    lexical: float = 0.0  # BM25 of its best chunk, 0 when no query term matches
    lexical_chunk: int | None = None
    fused: float = 0.0
    good: bool | None = None  # above the model's good-match cut-off (None: not known)
    calibrated: bool = True  # whether that cut-off was calibrated for the model

    @property
    def chunk(self) -> int | None:
        # the chunk with the query's words makes the better snippet
        return self.lexical_chunk if self.lexical_chunk is not None else self.dense_chunk


def fuse_hybrid(items: Sequence[Scored], lexical_weight: float) -> list[Scored]:
    """Order files by z(dense) + weight * BM25 / best BM25; ties by file id."""
    top = max((s.lexical for s in items), default=0.0)
    for s in items:
        lex = s.lexical / top if top > 0 else 0.0
        s.fused = (s.dense_z or 0.0) + lexical_weight * lex
    return sorted(items, key=lambda s: (-s.fused, s.file_id))


def merge_by_rank(lists: Sequence[Sequence[object]]) -> list[object]:
    """Interleave ranked lists by reciprocal rank (their scores are not comparable)."""
    scored: list[tuple[float, int, int, object]] = []
    for which, items in enumerate(lists):
        for rank, item in enumerate(items):
            scored.append((1.0 / (RRF_K + rank + 1), which, rank, item))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [t[3] for t in scored]
