"""Deterministic fake encoders for the logic tests: no model, no torch, same answer every run.

Text: a hashed bag of words, with a few synonym groups folded together, so a
query can match a document by "meaning" without sharing its words (`승용차`
finds `자동차`). Images: the picture's mean colour; colour words in a text
query land next to pictures of that colour.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

from searchengine.models.encoders import TextRole
from searchengine.records import Tag, Vectors

DIM = 48
SYNONYMS = (
    {"car", "cars", "automobile", "자동차", "승용차", "차량"},
    {"dog", "dogs", "puppy", "강아지", "개"},
    {"banana", "fruit", "바나나"},
)
COLOURS = {"red": (220, 20, 20), "blue": (20, 20, 220), "green": (20, 200, 20)}
COLOUR_KO = {"red": "빨간색", "blue": "파란색", "green": "초록색"}
_WORD = re.compile(r"\w+")


def _bucket(word: str) -> int:
    for n, group in enumerate(SYNONYMS):
        if word in group:
            word = f"synonym-group-{n}"
    return int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little") % DIM


def _normalise(rows: np.ndarray) -> Vectors:
    rows = rows.astype(np.float32) + 1e-3  # an empty text is still a valid unit vector
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class FakeTextEncoder:
    """Words hashed into DIM buckets (synonyms share one); the chunker sees one token a word."""

    def __init__(self, name: str = "fake-text", version: str = "1"):
        self.name = name
        self._fingerprint = f"{name}-v{version}"

    @property
    def dim(self) -> int:
        return DIM

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def max_tokens(self) -> int:
        return 64

    def prefix_tokens(self, role: TextRole) -> int:
        return 0

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors:
        rows = np.zeros((len(texts), DIM))
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.casefold()):
                rows[i, _bucket(word)] += 1.0
        return _normalise(rows)


class FakeImageEncoder:
    """A picture is its mean colour; a text query is the colours it names; its tag is
    the nearest named colour, in English and Korean."""

    def __init__(self, name: str = "fake-image", version: str = "1"):
        self.name = name
        self._fingerprint = f"{name}-v{version}"

    @property
    def dim(self) -> int:
        return 3

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        rows = [np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3) for im in images]
        # distance from white, so a white background does not drown the shape's colour
        return _normalise(np.array([(255.0 - r).mean(axis=0) for r in rows]).reshape(-1, 3))

    def encode_and_tag(self, images: Sequence[Image.Image]) -> tuple[Vectors, list[tuple]]:
        """The vectors, and each picture's nearest colour as its one tag."""
        vectors = self.encode_images(images)
        names = list(COLOURS)
        colours = self.encode_texts(names)
        tags = []
        for v in vectors:
            sims = colours @ v
            best = int(np.argmax(sims))
            tags.append((Tag(names[best], COLOUR_KO[names[best]], float(sims[best])),))
        return vectors, tags

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), 3))
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.casefold()):
                if word in COLOURS:
                    rows[i] += 255.0 - np.array(COLOURS[word])
        return _normalise(rows)
