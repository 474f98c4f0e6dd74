"""How scores from different rankers become one order, and what counts as a good match.

Dense scores are cosine similarities whose scale depends on the model (e5's
are compressed into roughly 0.75-0.95), so neither fusion nor the "good match"
cut-off uses them raw. Each query's dense scores are turned into z-scores
against the same query's similarities to a fixed reference (`Background`): for
text, passages shipped in data/background.txt; for images, a fixed sample of
the index. A z-score says how far above an unrelated item a hit stands. Lexical BM25
scores are divided by the query's best BM25 score. A hybrid score is then a
weighted sum of the two: a convex-combination fusion. On the labelled sets in
evalsets/ it raised recall@1 over dense alone on all three (Korean 0.430 ->
0.556, English->Korean 0.304 -> 0.326, English 0.705 -> 0.747), where
reciprocal-rank fusion lowered it on the cross-lingual set (0.289) and on the
Korean questions (0.431 -> 0.423). bench/tune_fusion.py prints the whole grid.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from searchengine.records import Vectors

log = logging.getLogger(__name__)

REFERENCE_PASSAGES = Path(__file__).resolve().parent.parent / "data" / "background.txt"

# Weight of the normalised BM25 score against the dense z-score, chosen on
# the labelled sets in evalsets/: 0.5-1.5 all beat dense alone on every set;
# 1.0 is the middle of that plateau, not the best value for any one set.
LEXICAL_WEIGHT = 1.0
# Queries that carry identifiers or numbers (`dpkg-divert`, `0x80070005`,
# `2024`) are the ones dense models miss; they lean on BM25 harder.
LEXICAL_WEIGHT_EXACT = 4.0
# An image's words are its tags: labels an ImageNet classifier is sure of (calibrated at
# precision >= 0.8, bench/calibrate_tags.py), the photo's strongest evidence, since the
# image vectors rank drawings above the right photo. bench/bench_photos.py (29 photos
# among 1,582 drawings, semsearch-clip-duo): Korean captions find their photo in the top
# 5 for 0.00 at weight 1, 0.14 at 2, 0.17 at 3 and 4, 0.21 at 5 (R@1 0.07 at 3, 0.10 at
# 4, 0.14 at 5); English 0.03, 0.21, 0.24, 0.24, 0.24 (R@1 0.10, 0.17, 0.17); drawing
# queries in the same index move by at most 0.005 from 2 to 5. 4 is the middle of the
# 3-5 plateau (semsearch-clip-lite0 alone: the same plateau).
TAG_WEIGHT = 4.0


@dataclass(frozen=True)
class Cutoff:
    """A good-match z-score cut-off, as calibrated on a search over `vectors` vectors."""

    z: float
    vectors: int
    lower_for_fewer: bool = True  # may a search over fewer vectors use a lower cut-off?


# Per model, calibrated on answered vs unanswerable labelled queries
# (bench/tune_fusion.py for text, bench/calibrate_image_match.py for images).
# e5-small: optima 2.0 (Korean FAQ, 139 chunks), 2.5 (English questions on it)
# and 2.25 (Python FAQ, 198 chunks); at those, 90-100% of right top answers
# are kept and 86-95% of unanswerable questions flagged.
GOOD_MATCH: dict[str, Cutoff] = {
    # Text is held to its calibrated z in small folders too: the reference
    # passages are technical FAQ text, and in the 8-chunk sample corpus the dog
    # walking guide scored z 1.9 for 승용차, above what the adjustment allows.
    "e5-small": Cutoff(2.25, 170, lower_for_fewer=False),
    "semsearch-clip": Cutoff(3.5, 1582),
    # bench/calibrate_image_match.py --image-model semsearch-clip-lite0: balanced
    # accuracy 0.903 (keeps 88% of right top images, flags 93% of unanswerable queries)
    "semsearch-clip-lite0": Cutoff(3.75, 1582),
    # the same script, --image-model semsearch-clip-duo: balanced accuracy 0.900 (keeps
    # 87% of right top images, flags 93% of unanswerable queries)
    "semsearch-clip-duo": Cutoff(3.75, 1582),
}
# How search by example finds documents, per image model, where measured on
# evalsets/image-to-docs (bench/bench_image_to_docs.py, 20 pictures, 7 documents): the
# vector and the tags' words fused found the right document first for 14 of 20 pictures
# with semsearch-clip-duo (MRR 0.84; its vector alone 13, 0.80) and 12 with
# semsearch-clip-lite0 (0.78; vector alone 11, 0.75); tags alone 5 (0.26). With the
# lite0 head trained with photos (2026-12-07) the duo's: 13 of 20 (MRR 0.76), fused or not.
# semsearch-clip's vector, 8 of 20 (MRR 0.58), ranked a recipe above the car guide for
# a car: not offered.
IMAGE_TO_DOCUMENTS: dict[str, str] = {"semsearch-clip-lite0": "both", "semsearch-clip-duo": "both"}
UNCALIBRATED = Cutoff(3.5, 1000)  # models nobody calibrated: a guess, marked as one

RRF_K = 60  # reciprocal-rank constant for merging text and image lists
BACKGROUND_SIZE = 1024
REFERENCE_CALL = 8  # reference passages per call to the text model (below its BATCH_ON_TORCH)


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


def reference_background(
    fingerprint: str, encode: Callable[[list[str]], Vectors], cache: Path
) -> Background:
    """The text model's vectors of the shipped reference passages, encoded once per model.

    Text z-scores are measured against these, not against the user's own
    index: a folder of eight documents would hold the query's own answer in
    its sample, and its z-scores would say nothing.
    """
    lines = REFERENCE_PASSAGES.read_text(encoding="utf-8").splitlines()
    passages = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    path = cache / "backgrounds" / f"{fingerprint}.npy"
    try:
        stored = np.load(path)
        if stored.shape[0] == len(passages):
            return Background(stored)
    except (OSError, ValueError):
        pass
    log.info("encoding %d reference passages for good-match scores (once)", len(passages))
    # a few at a time: a text model's big calls load what indexing batches take (torch,
    # +0.5-1 GB in a small run that had needed none), and these are a few short passages
    vectors = np.concatenate(
        [
            np.asarray(encode(passages[i : i + REFERENCE_CALL]), dtype=np.float32)
            for i in range(0, len(passages), REFERENCE_CALL)
        ]
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, vectors)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache: encode again next time
        log.info("cannot cache the reference vectors in %s: %s", path.parent, exc)
    return Background(vectors)


def good_match_z(model: str, searched: int) -> tuple[float, bool]:
    """The model's cut-off for a search over `searched` vectors, and whether it was calibrated.

    An unrelated query's best hit is the largest of N similarities, whose
    z-score grows like sqrt(2 ln N); the cut-off moves with it, so a small
    folder is not held to the bar of a large one. (Checked on the image
    gallery: calibrated at 1,582 images, 3.5 predicts 2.7 at 100; the optimum
    measured there was 2.75.)
    """
    cutoff = GOOD_MATCH.get(model)
    calibrated = cutoff is not None
    cutoff = cutoff or UNCALIBRATED
    shift = _extreme(searched) - _extreme(cutoff.vectors)
    if not cutoff.lower_for_fewer:
        shift = max(shift, 0.0)
    return cutoff.z + shift, calibrated


def _extreme(n: int) -> float:
    return math.sqrt(2.0 * math.log(max(n, 2)))


def lexical_weight(exact: bool, tags: bool = False) -> float:
    """How much the words count against the meaning, for a query that looks exact
    (`AnalysedQuery.exact`) or not; `tags`: words matched in image tags."""
    weight = LEXICAL_WEIGHT_EXACT if exact else LEXICAL_WEIGHT
    return max(weight, TAG_WEIGHT) if tags else weight


@dataclass
class Scored:
    """One file's evidence for a query, before ordering."""

    file_id: int
    dense_z: float | None = None  # z-score of its best chunk (None: not computed)
    cosine: float | None = None
    dense_chunk: int | None = None  # its best chunk by meaning (None for images)
    dense_label: int | None = None  # the vector of that chunk that matched best
    lexical: float = 0.0  # BM25 of its best chunk, 0 when no query term matches
    lexical_chunk: int | None = None
    fused: float = 0.0
    good: bool | None = None  # above the model's good-match cut-off (None: not known)
    calibrated: bool = True  # whether that cut-off was calibrated for the model

    @property
    def chunk(self) -> int | None:
        # the chunk with the query's words makes the better snippet
        return self.lexical_chunk if self.lexical_chunk is not None else self.dense_chunk

    @property
    def shown_label(self) -> int | None:
        """The vector that matched best by meaning, where the hit shows its chunk: the
        piece it reads frames the snippet."""
        return (
            self.dense_label if self.chunk is not None and self.chunk == self.dense_chunk else None
        )


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
