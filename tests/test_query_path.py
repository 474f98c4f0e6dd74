"""The query path's housekeeping: BLAS threads, stop words, the in-memory lookups."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from searchengine import Index
from searchengine.query.searcher import Searcher


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_a_search_runs_blas_on_one_thread(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = Searcher._score_dense

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_blas_threads())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Searcher, "_score_dense", spy)
    with threadpool_limits(2, user_api="blas"):
        index.search("car engine")
        assert seen and set(seen) == {1}
        assert _blas_threads() == 2  # given back after the search


def test_an_index_rebuilt_from_the_catalog_gives_the_same_results(
    fake_settings, encoders, corpus
) -> None:  # type: ignore[no-untyped-def]
    """The catalog keeps float16 vectors; the indexes hold the same rounded vectors, so a
    rebuild from the catalog changes no result and no score."""
    from helpers import draw_image

    for i in range(30):  # enough files that the HNSW graph matters
        (corpus / f"note{i}.txt").write_text(f"note {i} about the car engine and road {i % 7}")
        draw_image(corpus / f"pic{i}.png", (8 * i, 255 - 8 * i, 100))
    queries = ["car engine", "road 3", "puppy", "red", "자동차"]
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(corpus)
        before = [index.search(q, k=20).to_json() for q in queries]
    for space in ("text", "image"):
        # only the catalog is left (beside a shared catalog, the files are the search's caches)
        (fake_settings.index_dir / f"{space}.hnsw").unlink()
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        after = [index.search(q, k=20).to_json() for q in queries]
    assert after == before


def test_label_map_owners_and_files() -> None:
    import numpy as np

    from searchengine.query.labels import LabelMap

    labels = np.array([3, 5, 9, 12, 20])
    files = np.array([7, 2, 7, 2, 4])
    chunks = np.array([30, 50, 90, -1, 200])
    m = LabelMap.of(labels, files, chunks)
    known, f, c = m.owners(np.array([9, 4, 20, 99]))
    assert known.tolist() == [True, False, True, False]
    assert f[known].tolist() == [7, 4] and c[known].tolist() == [90, 200]
    rows, missing = m.rows_of_files([2, 7, 8])
    assert labels[rows].tolist() == [3, 5, 9, 12] and missing == {8}
    empty = LabelMap.of(*(np.zeros(0, np.int64) for _ in range(3)))
    assert empty.owners(np.array([1]))[0].tolist() == [False]
    assert empty.rows_of_files([1])[1] == {1}


def test_the_label_map_follows_the_catalog(index: Index, corpus) -> None:  # type: ignore[no-untyped-def]
    """A file added after the first search is found and scored on the next one."""
    first = index.search("car engine", k=20)
    (corpus / "new-car.txt").write_text("car engine car engine road", encoding="utf-8")
    index.add(corpus)
    again = index.search("car engine", k=20)
    names = [h.path.rsplit("/", 1)[-1] for h in again.hits]
    assert "new-car.txt" in names and "new-car.txt" not in [h.path for h in first.hits]
    hit = next(h for h in again.hits if h.path.endswith("new-car.txt"))
    assert hit.score > 0 and hit.good is not None  # scored densely, not by words alone


def test_kept_vectors_follow_additions_and_removals(index: Index, corpus) -> None:  # type: ignore[no-untyped-def]
    maps = index._reader()._labels
    first = index.search("car engine", k=20).to_json()  # pool vectors read by label
    assert maps._held["text"].map.vectors is None
    second = index.search("car engine", k=20).to_json()  # a second search keeps them
    held = maps._held["text"]
    assert held.map.vectors is not None and second == first
    before = len(held.map)
    (corpus / "new-car.txt").write_text("car engine car engine road", encoding="utf-8")
    index.add(corpus)
    names = [h.path.rsplit("/", 1)[-1] for h in index.search("car engine", k=20).hits]
    held = maps._held["text"]
    assert "new-car.txt" in names
    assert len(held.map) > before and held.map.vectors is not None  # extended, still kept
    assert len(held.map.vectors) == len(held.map)
    (corpus / "car.txt").unlink()
    index.add(corpus)
    names = [h.path.rsplit("/", 1)[-1] for h in index.search("car engine", k=20).hits]
    assert "car.txt" not in names and "new-car.txt" in names
    assert maps._held["text"].map.vectors is None  # read again from scratch


@pytest.mark.parametrize("budget", [0, 1 << 30], ids=["float16", "float32"])
def test_kept_vectors_fit_a_memory_budget_without_changing_results(
    index: Index, corpus, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:  # type: ignore[no-untyped-def]
    """Kept vectors are float32 within FLOAT32_BUDGET (no conversion per search), float16
    beyond; an extension keeps the held type; scores are the same either way."""
    import numpy as np

    from searchengine.query import labels

    monkeypatch.setattr(labels, "FLOAT32_BUDGET", budget)
    maps = index._reader()._labels
    by_label = index.search("car engine", k=20).to_json()  # pool vectors read by label
    kept = index.search("car engine", k=20).to_json()
    dtype = np.float32 if budget else np.float16
    assert maps._held["text"].map.vectors.dtype == dtype and kept == by_label
    (corpus / "new-car.txt").write_text("car engine car engine road", encoding="utf-8")
    index.add(corpus)
    after = index.search("car engine", k=20)
    assert maps._held["text"].map.vectors.dtype == dtype  # extended in the held type
    assert any(h.path.endswith("new-car.txt") for h in after.hits)


def test_a_small_space_kept_in_memory_is_scored_whole_with_the_same_results(
    fake_settings, encoders, corpus, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Once its vectors are kept, a space of at most EXACT_SCAN_MAX vectors is scored with
    one product instead of an HNSW walk: the same pages (with and without a filter, every
    mode), while the graph is not asked."""
    from helpers import draw_image

    from searchengine.filters import Filters
    from searchengine.query import labels
    from searchengine.store.hnsw import HnswIndex

    for i in range(30):
        (corpus / f"note{i}.txt").write_text(f"note {i} about the car engine and road {i % 7}")
        draw_image(corpus / f"pic{i}.png", (8 * i, 255 - 8 * i, 100))
    asks = [
        ("car engine", {}),
        ("road 3", {"mode": "dense"}),
        ("puppy", {"mode": "dense", "filters": Filters(globs=("note1*",))}),
        ("red", {"k": 5, "offset": 5}),
        ("자동차", {"filters": Filters(formats=("image",))}),
    ]

    def pages(index: Index) -> list[dict]:
        for _ in range(labels.KEEP_VECTORS_AFTER):
            index.search("warm-up")  # keeps the vectors
        return [index.search(q, **kw).to_json() for q, kw in asks]

    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(corpus)
        monkeypatch.setattr(labels, "EXACT_SCAN_MAX", 0)
        walked = pages(index)
    walks: list[int] = []
    real = HnswIndex.search

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        walks.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(labels, "EXACT_SCAN_MAX", 4096)
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        pages(index)  # the warm-up's own searches may walk
        monkeypatch.setattr(HnswIndex, "search", counted)
        scanned = [index.search(q, **kw).to_json() for q, kw in asks]
    assert scanned == walked and not walks


def test_a_scan_breaks_ties_by_label() -> None:
    import numpy as np

    from searchengine.query.labels import LabelMap, Scan

    m = LabelMap.of(np.array([2, 4, 6, 8]), np.array([10, 11, 12, 13]), np.array([0, 1, 2, 3]))
    scan = Scan(m, np.arange(4), np.array([0.5, 0.9, 0.9, 0.1], dtype=np.float32))
    assert scan.nearest_files(3).tolist() == [11, 12, 10]
    assert scan.nearest_files(9).tolist() == [11, 12, 10, 13]
    kept = LabelMap.of(m.labels, m.files, m.chunks, np.eye(4, dtype=np.float32))
    some = kept.scan(np.array([0.5, 0.9, 0.9, 0.1]), np.array([0, 3]))
    assert some is not None and some.nearest_files(5).tolist() == [10, 13]
    assert m.scan(np.ones(4)) is None  # no vectors kept


def test_a_search_analyses_its_query_once(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage (the MATCH expression of each space, the snippets' terms) reads one
    analysis of the query: kiwi, the slow part of a Korean query, runs on it once."""
    from searchengine import korean

    real = korean.tokens
    seen: list[str] = []

    def counting(kiwi, text):  # type: ignore[no-untyped-def]
        seen.append(text)
        return real(kiwi, text)

    monkeypatch.setattr(korean, "tokens", counting)
    for query, view in [
        ("새로 산 자동차의 엔진 소리", "새로 산 자동차의 엔진 소리"),
        ("강아지 산책을 나갔다 car", "강아지 산책을 나갔다"),  # kiwi sees the Hangul words
    ]:
        seen.clear()
        index.search(query, k=5)  # both spaces, hybrid, with snippets
        assert seen.count(view) == 1, seen  # it was 3: each space's MATCH, the snippets


def test_a_search_encodes_its_query_before_kiwi_analyses_it(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The query's terms are found when the words are matched, after its vector: a
    one-shot Korean search loads the text model while kiwi loads in its helper process,
    not after it (issue 30)."""
    from fakes import FakeTextEncoder

    from searchengine import korean

    events: list[str] = []
    tokens, encode = korean.tokens, FakeTextEncoder.encode

    def kiwi(kiwi, text):  # type: ignore[no-untyped-def]
        events.append("kiwi: " + text)
        return tokens(kiwi, text)

    def encoding(self, texts, role="passage"):  # type: ignore[no-untyped-def]
        events.append(f"encode {role}: " + " ".join(texts))
        return encode(self, texts, role)

    monkeypatch.setattr(korean, "tokens", kiwi)
    monkeypatch.setattr(FakeTextEncoder, "encode", encoding)
    query = "자동차의 엔진 소리"
    results = index.search(query, k=5)
    assert results.hits  # the words were matched all the same
    assert events.index(f"encode query: {query}") < events.index(f"kiwi: {query}"), events
    assert events.count(f"kiwi: {query}") == 1
