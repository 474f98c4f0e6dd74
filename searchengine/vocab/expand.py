"""Query expansion: the collection's own related words join a lexical query, weaker.

FTS5 cannot weight one term of a query, so the related words are a second
query: a file's lexical score becomes its BM25 for the query's own terms plus
`EXPANSION_WEIGHT` times its BM25 for the related words. A related word is
one of the `PER_TERM` nearest of a query term in the skip-gram model, with a
cosine of at least `MIN_COSINE`; a query term without a vector adds nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from searchengine.catalog import Catalog
from searchengine.catalog.search import LexicalMatch
from searchengine.errors import NoWordVectorsError
from searchengine.filters import Filters
from searchengine.lexical import AnalysedQuery
from searchengine.vocab.related import nearest
from searchengine.vocab.store import WordVectors, load_vectors, vocab_dir

log = logging.getLogger(__name__)

EXPANSION_METHOD = "word2vec"
EXPANSION_WEIGHT = 0.3
PER_TERM = 3
MIN_COSINE = 0.6
MAX_TERMS = 8


def expansion_terms(wv: WordVectors, terms: list[str]) -> list[tuple[str, float]]:
    """The related words of `terms` (none of `terms` itself), best first per term."""
    found: dict[str, float] = {}
    asked = set(terms)
    for term in terms:
        row = wv.row.get(term)
        if row is None:
            continue
        for n in nearest(wv, wv.vectors[row], PER_TERM, asked):
            if n.score >= MIN_COSINE and n.word not in found:
                found[n.word] = n.score
    return list(found.items())[:MAX_TERMS]


def expand_matches(
    catalog: Catalog,
    index_dir: Path,
    query: AnalysedQuery,
    filters: Filters,
    need: int,
    matches: list[LexicalMatch],
) -> list[LexicalMatch]:
    """`matches` (the query's own BM25 per file) fused with the related words' BM25."""
    try:
        wv = load_vectors(vocab_dir(index_dir), EXPANSION_METHOD)
    except NoWordVectorsError:
        return matches  # no vectors yet (or too little text): the plain query
    extra = expansion_terms(wv, list(query.words))
    if not extra:
        return matches
    log.debug("expanding %r with %s", query.text, extra)
    expression = " OR ".join(f'"{word}"' for word, _ in extra)
    fused = {m.file_id: m for m in matches}
    for m in catalog.lexical_matches(expression, filters, need):
        own = fused.get(m.file_id)
        if own is None:
            fused[m.file_id] = LexicalMatch(m.file_id, m.chunk_id, EXPANSION_WEIGHT * m.score)
        else:
            score = own.score + EXPANSION_WEIGHT * m.score
            fused[m.file_id] = LexicalMatch(own.file_id, own.chunk_id, score)
    ranked = sorted(fused.values(), key=lambda m: (-m.score, m.file_id))
    return ranked[: max(need, len(matches))]
