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
            (index.path / f"{space}.hnsw").unlink()  # only the catalog is left
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        after = [index.search(q, k=20).to_json() for q in queries]
    assert after == before
