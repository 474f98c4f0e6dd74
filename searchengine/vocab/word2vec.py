"""Word2Vec (skip-gram or CBOW, negative sampling) with gensim, one thread, fixed seed.

One worker thread and a fixed seed make a run reproducible: the same chunks give
the same vectors. gensim seeds a word's starting vector from a hash of it;
Python's own `hash` of a string changes from process to process, so a stable one
is given instead.
"""

from __future__ import annotations

import zlib

import numpy as np

from searchengine.vocab.corpus import TermCorpus
from searchengine.vocab.store import WordVectors, unit_rows


def stable_hash(word: str) -> int:
    return zlib.crc32(word.encode("utf-8"))


def train_word2vec(
    corpus: TermCorpus,
    *,
    skip_gram: bool,
    dim: int,
    window: int,
    min_count: int,
    epochs: int,
    seed: int = 0,
) -> WordVectors:
    """Vectors for every term seen at least `min_count` times, from `epochs` passes."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=corpus.sentences(min_count),
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1 if skip_gram else 0,
        negative=5,
        epochs=epochs,
        workers=1,
        seed=seed,
        hashfxn=stable_hash,
    )
    words = list(model.wv.index_to_key)
    row = {w: i for i, w in enumerate(corpus.words)}
    counts = np.asarray([corpus.counts[row[w]] for w in words], dtype=np.int64)
    return WordVectors(
        "word2vec" if skip_gram else "cbow", words, unit_rows(model.wv.vectors), counts
    )
