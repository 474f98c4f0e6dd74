"""The collection's own vocabulary: training, storage, neighbours, expansion, the baseline."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from searchengine import Index, Settings, lexical
from searchengine.errors import NoWordVectorsError, UnknownWordError
from searchengine.vocab import glove, store, train
from searchengine.vocab.corpus import TermCorpus, read_corpus
from searchengine.vocab.related import parse_expression, related_words
from searchengine.vocab.train import MIN_COUNT, train_method

CARS = "car engine road drive wheel brake fuel garage sedan truck".split()
BAKING = "bread oven flour recipe dough bake yeast kitchen butter sugar".split()
CARS_KO = "자동차 엔진 도로 운전 바퀴 브레이크 연료 차고".split()
BAKING_KO = "빵 오븐 밀가루 요리 반죽 설탕 버터 부엌".split()
PARTICLES = "을 를 이 가 은 는 에 의 로".split()
NO_SEDAN = "garage_notes.txt"  # a car document that never says `sedan`
# the same words as the lexical index has them (`engine` -> `engin`), for corpora made here
CAR_TERMS = [lexical.query_terms(w)[0] for w in CARS]
BAKING_TERMS = [lexical.query_terms(w)[0] for w in BAKING]


def corpus_of(sentences: list[list[str]]) -> TermCorpus:
    """A TermCorpus as `read_corpus` makes it, from term lists instead of a catalog."""
    vocabulary: dict[str, int] = {}
    ids = [vocabulary.setdefault(t, len(vocabulary)) for s in sentences for t in s]
    arr = np.asarray(ids, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    n = len(sentences)
    return TermCorpus(
        list(vocabulary),
        np.bincount(arr, minlength=len(vocabulary)),
        arr,
        offsets,
        np.arange(n, dtype=np.int64),
        np.arange(n, dtype=np.int64),
        [f"/doc{i}" for i in range(n)],
    )


def topic_sentences(topics: list[list[str]], n: int, length: int, seed: int = 0) -> list[list[str]]:
    """`n` sentences, each drawn from one topic's words only: co-occurrence by construction."""
    rng = random.Random(seed)
    return [rng.choices(topics[i % len(topics)], k=length) for i in range(n)]


@pytest.mark.parametrize("method", store.METHODS)
def test_neighbours_follow_cooccurrence(method: str) -> None:
    corpus = corpus_of(topic_sentences([CAR_TERMS, BAKING_TERMS], n=400, length=20))
    wv = train_method(corpus, method)
    assert sorted(wv.words) == sorted(CAR_TERMS + BAKING_TERMS)
    same_topic = 0
    for word in CAR_TERMS + BAKING_TERMS:
        topic = CAR_TERMS if word in CAR_TERMS else BAKING_TERMS
        found = related_words(wv, word, k=5).neighbours
        assert [n.word for n in found] != [word]
        same_topic += sum(n.word in topic for n in found)
    # chance would be 4 of 9 other words, 44%; the two vocabularies never meet
    assert same_topic / (5 * 20) >= 0.9, f"{method}: {same_topic} of 100 neighbours in topic"


@pytest.mark.parametrize("method", ["word2vec", "glove"])
def test_training_is_deterministic(method: str) -> None:
    corpus = corpus_of(topic_sentences([CAR_TERMS, BAKING_TERMS], n=100, length=20))
    a, b = train_method(corpus, method), train_method(corpus, method)
    assert a.words == b.words
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_rare_terms_get_no_vector() -> None:
    sentences = topic_sentences([CAR_TERMS], n=50, length=10) + [["zeppelin"] * (MIN_COUNT - 1)]
    wv = train_method(corpus_of(sentences), "word2vec")
    assert "zeppelin" not in wv.row
    with pytest.raises(UnknownWordError, match="zeppelin"):
        related_words(wv, "zeppelin", k=3)


def test_expressions() -> None:
    assert parse_expression("king - man + woman") == (["king", "woman"], ["man"])
    assert parse_expression("자동차") == (["자동차"], [])
    assert parse_expression("a b - c") == (["a b"], ["c"])


# --- through Index: the hook in `add`, the files, expansion, the baseline ----------------


def write_topic_docs(root: Path, *, korean: bool = False) -> Path:
    """Thirty car and thirty baking documents; one car document never says `sedan`."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    cars, baking = (CARS_KO, BAKING_KO) if korean else (CARS, BAKING)
    for i in range(60):
        words = cars if i % 2 == 0 else baking
        picked = rng.choices(words, k=80)
        if korean:  # particles attached, as written: 자동차를, 엔진이
            picked = [w + rng.choice(PARTICLES) for w in picked]
        name = f"{'cars' if i % 2 == 0 else 'baking'}_{i:02}.txt"
        (root / name).write_text(" ".join(picked) + ".\n", encoding="utf-8")
    if not korean:
        no_sedan = [w for w in CARS if w != "sedan"]
        (root / NO_SEDAN).write_text(" ".join(rng.choices(no_sedan, k=80)), encoding="utf-8")
    return root


@pytest.fixture
def vocab_settings(fake_settings: Settings) -> Settings:
    return replace(fake_settings, word_vectors_min_tokens=1_000)


@pytest.fixture
def topic_index(tmp_path: Path, vocab_settings: Settings, encoders):  # type: ignore[no-untyped-def]
    with Index.open(settings=vocab_settings, encoders=encoders) as idx:
        idx.add(write_topic_docs(tmp_path / "topics"))
        assert idx.wait_for_word_vectors()
        yield idx


def test_index_trains_into_its_folder(topic_index: Index) -> None:
    folder = topic_index.path / "vocab"
    assert sorted(p.name for p in folder.iterdir()) == [
        "cbow.npz",
        "glove.npz",
        "train.lock",
        "training.json",
        "word2vec.npz",
    ]
    record = store.read_record(folder)
    assert record is not None and record.status == "trained" and record.tokens >= 1_000
    # the terms are the lexical index's: stemmed as BM25 sees them
    words = set(store.load_vectors(folder, "word2vec").words)
    assert "engin" in words and "engine" not in words
    related = topic_index.related("engines", k=5)
    assert related.positive == ("engin",)
    assert (
        sum(
            n.word in {"car", "road", "drive", "wheel", "brake", "fuel", "garag", "sedan", "truck"}
            for n in related.neighbours
        )
        >= 4
    )


def test_unchanged_collection_is_not_trained_again(topic_index: Index, tmp_path: Path) -> None:
    path = topic_index.path / "vocab" / "glove.npz"
    before = path.stat().st_mtime_ns
    topic_index.add(tmp_path / "topics")
    assert topic_index.wait_for_word_vectors()
    assert path.stat().st_mtime_ns == before


def test_too_little_text_is_skipped_with_reason(index: Index) -> None:
    assert index.wait_for_word_vectors()
    record = store.read_record(index.path / "vocab")
    assert record is not None and record.status == "skipped"
    assert "word vectors need at least 5,000" in record.reason
    assert not list((index.path / "vocab").glob("*.npz"))
    with pytest.raises(NoWordVectorsError, match="need at least 5,000"):
        index.related("car")


def test_a_skipped_collection_is_not_read_again_on_each_use(index: Index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The page asks for related words on every search: a collection skipped for too
    little text says so from its record, without reading its text again."""
    assert index.wait_for_word_vectors()
    monkeypatch.setattr(train, "read_corpus", lambda *a, **kw: pytest.fail("read again"))
    for _ in range(2):
        with pytest.raises(NoWordVectorsError, match="need at least 5,000"):
            index.related("car")


def test_vectors_are_dropped_with_the_text(topic_index: Index, tmp_path: Path) -> None:
    for doc in (tmp_path / "topics").glob("*.txt"):
        doc.unlink()
    (tmp_path / "topics" / "one.txt").write_text("a short note", encoding="utf-8")
    topic_index.add(tmp_path / "topics")
    assert topic_index.wait_for_word_vectors()
    assert not list((topic_index.path / "vocab").glob("*.npz"))
    with pytest.raises(NoWordVectorsError, match="need at least 1,000"):
        topic_index.related("car")


def test_add_returns_before_its_word_vectors_and_related_works_after(
    tmp_path: Path, vocab_settings: Settings, encoders, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    real = train.train_method

    def held(corpus, method, seed=0, should_stop=None):  # type: ignore[no-untyped-def]
        assert release.wait(60), "the test never let the training go on"
        return real(corpus, method, seed, should_stop)

    monkeypatch.setattr(train, "train_method", held)
    with Index.open(settings=vocab_settings, encoders=encoders) as idx:
        report = idx.add(write_topic_docs(tmp_path / "topics"))
        assert report.word_vectors == "training" and report.to_json()["word_vectors"]
        assert not idx.wait_for_word_vectors(timeout=0.2)  # add came back mid-training
        assert not (idx.path / "vocab" / "word2vec.npz").exists()
        release.set()
        related = idx.related("engines", k=5)  # waits for the training under way
        assert related.positive == ("engin",) and related.neighbours


def test_first_use_trains_what_is_missing(topic_index: Index) -> None:
    folder = topic_index.path / "vocab"
    for model in folder.glob("*.npz"):
        model.unlink()
    (folder / "training.json").unlink()
    with Index.open(settings=topic_index.settings) as again:
        assert again.related("engines", k=5).neighbours
    assert (folder / "word2vec.npz").is_file()


def test_turned_off(tmp_path: Path, vocab_settings: Settings, encoders) -> None:  # type: ignore[no-untyped-def]
    off = replace(vocab_settings, word_vectors=False)
    with Index.open(settings=off, encoders=encoders) as idx:
        idx.add(write_topic_docs(tmp_path / "topics"))
        assert not (idx.path / "vocab").exists()
        with pytest.raises(NoWordVectorsError, match="yet"):
            idx.related("car")


def test_a_failed_save_leaves_the_last_model(topic_index: Index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = topic_index.path / "vocab"
    old = store.load_vectors(folder, "word2vec")
    before = (folder / "word2vec.npz").read_bytes()

    def broken(f, **arrays):  # type: ignore[no-untyped-def]
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(store.np, "savez", broken)
    changed = store.WordVectors("word2vec", old.words, old.vectors[::-1].copy(), old.counts)
    with pytest.raises(OSError, match="disk full"):
        store.save_vectors(folder, changed)
    assert (folder / "word2vec.npz").read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert store.load_vectors(folder, "word2vec").words == old.words


def test_readers_see_a_new_model_once_it_is_in_place(topic_index: Index) -> None:
    folder = topic_index.path / "vocab"
    old = store.load_vectors(folder, "cbow")
    time.sleep(0.01)  # a new mtime
    store.save_vectors(
        folder, store.WordVectors("cbow", old.words[:3], old.vectors[:3], old.counts[:3])
    )
    assert len(store.load_vectors(folder, "cbow")) == 3


def test_korean_words_are_analysed_like_queries(
    tmp_path: Path, vocab_settings: Settings, encoders
) -> None:  # type: ignore[no-untyped-def]
    with Index.open(settings=vocab_settings, encoders=encoders) as idx:
        idx.add(write_topic_docs(tmp_path / "ko", korean=True))
        related = idx.related("자동차를", k=5)
    assert related.positive == ("자동차",)
    assert sum(n.word in CARS_KO for n in related.neighbours) >= 4


def test_expansion_finds_a_document_through_a_related_word(topic_index: Index) -> None:
    plain = topic_index.search("sedan", k=60, mode="lexical")
    expanded = topic_index.search("sedan", k=60, mode="lexical", expand=True)
    plain_names = [Path(h.path).name for h in plain]
    names = [Path(h.path).name for h in expanded]
    assert NO_SEDAN not in plain_names and NO_SEDAN in names
    # the related words are car words: no baking document comes with them
    assert all(n.startswith("cars_") or n == NO_SEDAN for n in names)
    # the documents that say `sedan` stay ahead of the one that only says related words
    assert set(names[: len(plain_names)]) == set(plain_names)


def test_eval_baseline(topic_index: Index, tmp_path: Path) -> None:
    docs = tmp_path / "topics"
    cars = sorted(p.name for p in docs.glob("*.txt") if p.name.startswith("cars_"))
    baking = sorted(p.name for p in docs.glob("baking_*.txt"))
    lines = [f"sedan\t{name}" for name in cars] + [f"yeast dough\t{name}" for name in baking]
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query\trelevant\n" + "\n".join(lines) + "\n", encoding="utf-8")
    report = topic_index.evaluate(qrels, folder=docs, modes=["lexical", "word2vec", "glove"])
    assert set(report.modes) == {"lexical", "word2vec", "glove"}
    for mode in ("word2vec", "glove"):
        metrics = report.modes[mode]["all"]
        assert metrics["queries"] == 2
        # every one of the ten first files is of the query's topic (by chance: about half)
        assert metrics["recall@10"] == pytest.approx(
            (10 / len(cars) + 10 / len(baking)) / 2, abs=1e-3
        )


def test_corpus_reads_the_lexical_terms(topic_index: Index) -> None:
    from searchengine.store import Store

    with Store.for_settings(topic_index.settings) as st:
        corpus = read_corpus(st.catalog)
    first = " ".join(corpus.words[t] for t in corpus.chunk(0))
    assert set(first.split()) <= set(CAR_TERMS + BAKING_TERMS)
    assert corpus.tokens == int(corpus.counts.sum())


def test_closing_without_waiting_stops_the_training_at_an_epoch(
    tmp_path: Path, vocab_settings: Settings, encoders, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The CLI closes without waiting (Ctrl-C, a watcher's SIGTERM): GloVe's torch must
    not be at work in a thread when the process exits, which can abort it (status -6)."""
    epochs: list[int] = []
    real_fit = glove._fit

    def slow_fit(*args, **kw):  # type: ignore[no-untyped-def]
        stop = args[-1]

        def counting() -> bool:
            epochs.append(1)
            time.sleep(0.2)  # a long epoch
            return bool(stop and stop())

        return real_fit(*args[:-1], counting)

    monkeypatch.setattr(glove, "_fit", slow_fit)
    monkeypatch.setattr(train, "epochs_for", lambda tokens: 1000)
    idx = Index.open(settings=vocab_settings, encoders=encoders)
    assert idx.add(write_topic_docs(tmp_path / "topics")).word_vectors == "training"
    thread = idx._training
    while not epochs:  # GloVe has begun
        time.sleep(0.05)
    started = time.monotonic()
    idx.close(wait=False)
    assert thread is not None and not thread.is_alive()
    assert time.monotonic() - started < 5 and len(epochs) < 100
    assert not (idx.path / "vocab" / "glove.npz").exists()
    with pytest.raises(glove.TrainingStopped):
        train.train_method(corpus_of([["a", "b"]] * 50), "glove", should_stop=lambda: True)


def test_a_training_that_outlives_the_close_still_never_starts_glove(
    tmp_path: Path, vocab_settings: Settings, encoders, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """word2vec (gensim, no torch) may run past close's wait; when it ends, the stopped
    training must not go on into GloVe's torch, though the next Index trains anew."""
    import searchengine.api

    release = threading.Event()
    methods: list[str] = []
    real = train.train_method

    def held(corpus, method, seed=0, should_stop=None):  # type: ignore[no-untyped-def]
        methods.append(method)
        if method != "glove":
            assert release.wait(60)
        return real(corpus, method, seed, should_stop)

    monkeypatch.setattr(train, "train_method", held)
    monkeypatch.setattr(searchengine.api, "STOP_WAIT_S", 0.2)
    idx = Index.open(settings=vocab_settings, encoders=encoders)
    idx.add(write_topic_docs(tmp_path / "topics"))
    thread = idx._training
    while not methods:
        time.sleep(0.05)
    idx.close(wait=False)  # word2vec is held: close gives up waiting after 0.2 s
    assert thread is not None and thread.is_alive()
    release.set()
    thread.join(30)
    assert not thread.is_alive() and "glove" not in methods
