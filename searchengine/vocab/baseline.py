"""A bag-of-word-vectors ranker, the baseline `semsearch eval --mode word2vec|glove` measures.

A chunk is the idf-weighted sum of its terms' unit vectors, normalised; a
query is made the same way from its terms; a file scores its best chunk's
cosine. It is what "search by the collection's own word vectors" gives
without a sentence model, to compare e5 (dense) and BM25 (lexical) against.
"""

from __future__ import annotations

import numpy as np

from searchengine import lexical
from searchengine.catalog import Catalog
from searchengine.filters import Filters
from searchengine.vocab.corpus import read_corpus
from searchengine.vocab.store import WordVectors, unit_rows


class WordVectorRanker:
    """Ranks the files that pass `filters` by averaged word vectors."""

    def __init__(self, catalog: Catalog, wv: WordVectors, filters: Filters | None = None):
        import scipy.sparse as sp

        corpus = read_corpus(catalog, filters)
        self.wv = wv
        model_row = np.asarray([wv.row.get(w, -1) for w in corpus.words], dtype=np.int64)
        chunk_of = np.repeat(np.arange(corpus.chunks), np.diff(corpus.offsets))
        rows = model_row[corpus.ids] if corpus.tokens else np.zeros(0, dtype=np.int64)
        known = rows >= 0
        counts = sp.csr_matrix(
            (np.ones(int(known.sum())), (chunk_of[known], rows[known])),
            shape=(corpus.chunks, len(wv)),
        )
        df = np.bincount(counts.indices, minlength=len(wv))  # chunks holding each term
        self.idf = np.log((1 + corpus.chunks) / (1 + df)) + 1.0
        self.chunks = unit_rows(np.asarray(counts @ (wv.vectors * self.idf[:, None])))
        self.paths = corpus.paths

    def rank(self, query: str, depth: int) -> list[str]:
        """The `depth` best files' path keys for `query`, best first."""
        rows = [self.wv.row[t] for t in lexical.query_terms(query) if t in self.wv.row]
        if not rows or not len(self.chunks):
            return []
        vector = (self.wv.vectors[rows] * self.idf[rows, None]).sum(axis=0)
        scores = self.chunks @ (vector / max(float(np.linalg.norm(vector)), 1e-12))
        out: dict[str, None] = {}
        for i in np.argsort(-scores, kind="stable"):
            out.setdefault(self.paths[i], None)
            if len(out) == depth:
                break
        return list(out)
