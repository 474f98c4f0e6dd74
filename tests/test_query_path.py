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
