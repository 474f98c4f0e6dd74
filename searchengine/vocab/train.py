"""One training run: read the collection's terms, train each method, save, record.

Started in the background once an indexing run (`Index.add`) has returned, or
on first use when no vectors are there yet. A lock file in the vocabulary
folder makes a second trainer wait for the first, and then find nothing left
to do; searches go on meanwhile and see the new vectors once each file is
renamed into place. A collection whose terms did not change since the last run
(same chunks) is not trained again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from searchengine.catalog import Catalog
from searchengine.vocab.corpus import TermCorpus, read_corpus
from searchengine.vocab.glove import TrainingStopped, train_glove
from searchengine.vocab.store import (
    METHODS,
    TrainingRecord,
    WordVectors,
    drop_vectors,
    read_record,
    save_vectors,
    vocab_dir,
    write_record,
)
from searchengine.vocab.word2vec import train_word2vec

log = logging.getLogger(__name__)

DIM = 100
WORD2VEC_WINDOW = 5
GLOVE_WINDOW = 10  # the GloVe paper's symmetric window
MIN_COUNT = 3  # rarer terms have too little context: on a small collection they crowd out
# the neighbours (measured on debian-faq-ko: 2 lists mostly one-off fragments)
# Passes over the text: a small collection gets more, so that every run sees
# about this many tokens (the defaults of 5 passes suit corpora of millions).
TOKENS_SEEN = 2_000_000
MIN_EPOCHS, MAX_EPOCHS = 5, 50


# part of a model's stamp: a change here trains the next run's models afresh
PARAMS = f"d{DIM}-w{WORD2VEC_WINDOW}-g{GLOVE_WINDOW}-m{MIN_COUNT}-t{TOKENS_SEEN}"


def epochs_for(tokens: int) -> int:
    return max(MIN_EPOCHS, min(MAX_EPOCHS, TOKENS_SEEN // max(tokens, 1)))


def train_method(
    corpus: TermCorpus,
    method: str,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> WordVectors:
    """One method's vectors; GloVe (torch) asks `should_stop` between its epochs."""
    epochs = epochs_for(corpus.tokens)
    if method == "glove":
        return train_glove(
            corpus,
            dim=DIM,
            window=GLOVE_WINDOW,
            min_count=MIN_COUNT,
            epochs=epochs,
            seed=seed,
            should_stop=should_stop,
        )
    return train_word2vec(
        corpus,
        skip_gram=method == "word2vec",
        dim=DIM,
        window=WORD2VEC_WINDOW,
        min_count=MIN_COUNT,
        epochs=epochs,
        seed=seed,
    )


TRAIN_LOCK = "train.lock"


@contextmanager
def _one_trainer(folder: Path) -> Iterator[None]:
    """Held while this process trains the folder's vectors; another trainer waits."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / TRAIN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def train_vocab(
    catalog: Catalog,
    index_dir: Path,
    min_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingRecord:
    """Train every method on the indexed text, or record why not; returns the record.
    TrainingStopped when `should_stop` says yes (asked between methods and epochs):
    what was saved stays, the record is not written, the next training does it all."""
    folder = vocab_dir(index_dir)
    with _one_trainer(folder):
        return _train(catalog, folder, min_tokens, should_stop)


def _train(
    catalog: Catalog, folder: Path, min_tokens: int, should_stop: Callable[[], bool] | None
) -> TrainingRecord:
    corpus = read_corpus(catalog)
    stamp = f"{corpus.stamp}-{PARAMS}"
    last = read_record(folder)
    if (
        last is not None
        and last.status == "trained"
        and last.stamp == stamp
        and all((folder / f"{m}.npz").is_file() for m in METHODS)
    ):
        return last
    if corpus.tokens < min_tokens:
        reason = (
            f"the indexed text has {corpus.tokens:,} terms; "
            f"word vectors need at least {min_tokens:,}"
        )
        record = TrainingRecord("skipped", reason, corpus.chunks, corpus.tokens, stamp=stamp)
        write_record(folder, record)
        drop_vectors(folder)  # they described text that is no longer indexed
        log.info("word vectors skipped: %s", reason)
        return record
    seconds: dict[str, float] = {}
    vocabulary = 0
    for method in METHODS:
        if should_stop is not None and should_stop():
            raise TrainingStopped
        started = time.perf_counter()
        wv = train_method(corpus, method, should_stop=should_stop)
        save_vectors(folder, wv)
        seconds[method] = round(time.perf_counter() - started, 3)
        vocabulary = len(wv)
    record = TrainingRecord(
        "trained",
        "",
        corpus.chunks,
        corpus.tokens,
        vocabulary,
        stamp,
        seconds,
        time.time(),
    )
    write_record(folder, record)
    log.info(
        "word vectors: %d terms from %d tokens in %.1fs",
        vocabulary,
        corpus.tokens,
        sum(seconds.values()),
    )
    return record
