"""The collection's own vocabulary: Word2Vec and GloVe trained on its indexed terms.

`corpus` reads the BM25 terms of every chunk back from the catalog; `word2vec`
(gensim: skip-gram and CBOW) and `glove` train on them; `train` runs them after
an indexing run and `store` keeps them in `<index>/vocab/`; `related` answers
neighbours and analogies, `expand` adds related words to lexical queries, and
`baseline` ranks files by averaged word vectors for `semsearch eval`.
"""

from searchengine.vocab.related import Neighbour, RelatedWords, WordMap, related_words, word_map
from searchengine.vocab.store import METHODS, Method, TrainingRecord, WordVectors, load_vectors
from searchengine.vocab.train import train_vocab

__all__ = [
    "METHODS",
    "Method",
    "Neighbour",
    "RelatedWords",
    "TrainingRecord",
    "WordMap",
    "WordVectors",
    "load_vectors",
    "related_words",
    "train_vocab",
    "word_map",
]
