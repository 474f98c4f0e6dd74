"""Questions to the word vectors: a word's neighbours, analogies, and a map of them.

A word is analysed as a query is (`searchengine.lexical`), so `자동차를` asks
about `자동차` and `Sources` about `sourc`, the terms the collection's text was
trained on. An expression adds and subtracts words, operators standing apart:
`왕 - 남자 + 여자` is the vector of 왕, minus 남자, plus 여자 (3CosAdd on unit
vectors), its answers leaving out the words asked about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from searchengine import lexical
from searchengine.errors import ConfigError, UnknownWordError
from searchengine.explore.layout import tsne_2d
from searchengine.vocab.store import WordVectors


@dataclass(frozen=True)
class Neighbour:
    """A word near the question, its cosine, and how often the collection uses it."""

    word: str
    score: float
    count: int


@dataclass(frozen=True)
class RelatedWords:
    """The words nearest to a word (or to `positive` minus `negative`) in one model."""

    query: str
    method: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    neighbours: tuple[Neighbour, ...]

    @property
    def analogy(self) -> bool:
        return bool(self.negative) or len(self.positive) > 1

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "method": self.method,
            "positive": list(self.positive),
            "negative": list(self.negative),
            "neighbours": [
                {"word": n.word, "score": round(n.score, 4), "count": n.count}
                for n in self.neighbours
            ],
        }


@dataclass(frozen=True)
class WordMap:
    """A word's neighbourhood on a plane: the question's words first, then the neighbours."""

    words: list[str]
    xy: np.ndarray  # (n, 2)
    scores: list[float]  # cosine to the question; 1.0 for the question's own words
    asked: int  # how many of `words`, from the start, the question named

    def to_json(self) -> dict[str, object]:
        return {
            "points": [
                {
                    "word": w,
                    "x": float(x),
                    "y": float(y),
                    "score": round(s, 4),
                    "asked": i < self.asked,
                }
                for i, (w, (x, y), s) in enumerate(
                    zip(self.words, self.xy, self.scores, strict=True)
                )
            ]
        }


def parse_expression(text: str) -> tuple[list[str], list[str]]:
    """The words to add and to subtract: `a - b + c` → ([a, c], [b]); one word → ([a], [])."""
    positive: list[str] = []
    negative: list[str] = []
    sign, group = +1, list[str]()
    for token in text.split() + ["+"]:
        if token in ("+", "-"):
            if group:
                (positive if sign > 0 else negative).append(" ".join(group))
            elif token == "-" and not positive and not negative:
                raise ConfigError(f"nothing to subtract from in {text!r}")
            sign, group = (1 if token == "+" else -1), []
        else:
            group.append(token)
    if not positive:
        raise ConfigError("give a word: WORD, or A - B + C for an analogy")
    return positive, negative


def terms_of(wv: WordVectors, words: str) -> list[str]:
    """The terms of `words` as the index has them; UnknownWordError if one has no vector."""
    terms = lexical.query_terms(words)
    if not terms:
        raise UnknownWordError(words, wv.method)
    for term in terms:
        if term not in wv.row:
            raise UnknownWordError(term, wv.method, words)
    return terms


def _question(wv: WordVectors, text: str) -> tuple[np.ndarray, list[str], list[str]]:
    positive, negative = parse_expression(text)
    pos = [t for group in positive for t in terms_of(wv, group)]
    neg = [t for group in negative for t in terms_of(wv, group)]
    vector = wv.vectors[[wv.row[t] for t in pos]].sum(axis=0)
    if neg:
        vector = vector - wv.vectors[[wv.row[t] for t in neg]].sum(axis=0)
    return vector / max(float(np.linalg.norm(vector)), 1e-12), pos, neg


def nearest(
    wv: WordVectors,
    vector: np.ndarray,
    k: int,
    exclude: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[Neighbour]:
    """The `k` words with the highest cosine to `vector`, best first, ties by word."""
    scores = wv.vectors @ vector.astype(np.float32)
    order = np.lexsort((np.asarray(wv.words), -scores))
    out = []
    for i in order:
        if wv.words[i] not in exclude:
            out.append(Neighbour(wv.words[i], float(scores[i]), int(wv.counts[i])))
            if len(out) == k:
                break
    return out


def related_words(wv: WordVectors, text: str, k: int) -> RelatedWords:
    """The `k` nearest words to `text`: one word (or phrase), or an expression `a - b + c`."""
    if k < 1:
        raise ConfigError("k must be at least 1", "k")
    vector, pos, neg = _question(wv, text)
    found = nearest(wv, vector, k, set(pos) | set(neg))
    return RelatedWords(text, wv.method, tuple(pos), tuple(neg), tuple(found))


def word_map(wv: WordVectors, text: str, k: int, seed: int = 0) -> WordMap:
    """`text`'s words and their `k` nearest, laid out by t-SNE (PCA below 12 words)."""
    related = related_words(wv, text, k)
    asked = list(dict.fromkeys(related.positive + related.negative))
    words = asked + [n.word for n in related.neighbours]
    vectors = wv.vectors[[wv.row[w] for w in words]]
    xy = tsne_2d(vectors, seed=seed) if len(words) > 1 else np.zeros((len(words), 2))
    scores = [1.0] * len(asked) + [n.score for n in related.neighbours]
    return WordMap(words, np.asarray(xy), scores, len(asked))
