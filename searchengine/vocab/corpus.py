"""The collection's text as term streams: the exact terms its BM25 index holds.

Each chunk's terms are read back from the FTS5 table `chunk_terms`, which
stores what `searchengine.lexical.index_text` made of the chunk (kiwi's
morphemes for Hangul, casefolded and lightly stemmed words otherwise), in
reading order. So the word vectors are trained on the very terms a lexical
query matches, and nothing is analysed twice. Terms are kept as integer ids
(one array for the whole collection), which holds 100,000 chunks in a few
tens of megabytes instead of millions of Python strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import column, select, table

from searchengine.catalog import Catalog
from searchengine.catalog.schema import Chunk, File
from searchengine.catalog.search import file_conditions
from searchengine.filters import Filters

_TERMS = table("chunk_terms", column("rowid"), column("terms"))
_BATCH = 5_000


@dataclass(frozen=True)
class TermCorpus:
    """Every indexed chunk as a run of term ids, with the file it belongs to."""

    words: list[str]  # term id -> term, in order of first appearance
    counts: np.ndarray  # term id -> occurrences in the collection
    ids: np.ndarray  # every chunk's term ids, one after the other (int32)
    offsets: np.ndarray  # chunk i is ids[offsets[i]:offsets[i + 1]]
    chunk_ids: np.ndarray
    file_ids: np.ndarray
    paths: list[str]  # each chunk's file path_key

    @property
    def tokens(self) -> int:
        return len(self.ids)

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)

    @property
    def stamp(self) -> str:
        """Changes whenever a chunk is added or removed: the trained models' version."""
        digest = hashlib.sha1(self.chunk_ids.astype("<i8").tobytes())
        digest.update(str(self.tokens).encode())
        return digest.hexdigest()[:16]

    def chunk(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def sentences(self, min_count: int = 1) -> Sentences:
        """The chunks as lists of terms, rarer terms than `min_count` left out; re-iterable."""
        return Sentences(self, min_count)


class Sentences:
    """Chunks as lists of term strings, made on the fly each pass (gensim reads several)."""

    def __init__(self, corpus: TermCorpus, min_count: int):
        self.corpus = corpus
        self.keep = corpus.counts >= min_count

    def __iter__(self) -> Iterator[list[str]]:
        words = self.corpus.words
        for i in range(self.corpus.chunks):
            ids = self.corpus.chunk(i)
            ids = ids[self.keep[ids]]
            if len(ids):
                yield [words[t] for t in ids.tolist()]


def read_corpus(catalog: Catalog, filters: Filters | None = None) -> TermCorpus:
    """The terms of every chunk whose file passes `filters` (all indexed files by default)."""
    query = (
        select(_TERMS.c.rowid, Chunk.file_id, File.path_key, _TERMS.c.terms)
        .join(Chunk, Chunk.id == _TERMS.c.rowid)
        .join(File, File.id == Chunk.file_id)
        .where(*file_conditions(filters or Filters()))
        .order_by(_TERMS.c.rowid)
        .execution_options(yield_per=_BATCH)
    )
    vocabulary: dict[str, int] = {}
    runs: list[np.ndarray] = []
    chunk_ids: list[int] = []
    file_ids: list[int] = []
    paths: list[str] = []
    with catalog.session() as s:
        for rowid, file_id, path, terms in s.execute(query):
            ids = [vocabulary.setdefault(t, len(vocabulary)) for t in terms.split()]
            runs.append(np.asarray(ids, dtype=np.int32))
            chunk_ids.append(int(rowid))
            file_ids.append(int(file_id))
            paths.append(path)
    lengths = np.fromiter((len(r) for r in runs), dtype=np.int64, count=len(runs))
    offsets = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    all_ids = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int32)
    return TermCorpus(
        words=list(vocabulary),
        counts=np.bincount(all_ids, minlength=len(vocabulary)).astype(np.int64),
        ids=all_ids,
        offsets=offsets,
        chunk_ids=np.asarray(chunk_ids, dtype=np.int64),
        file_ids=np.asarray(file_ids, dtype=np.int64),
        paths=paths,
    )
