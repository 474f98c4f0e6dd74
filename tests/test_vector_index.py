"""The hnswlib wrapper: growth, deletion, k past the live count, atomic save, its knobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchengine.errors import IndexCorruptError
from searchengine.store.hnsw import HnswIndex, HnswParams


def _unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_grows_deletes_and_never_crashes_on_large_k(tmp_path: Path) -> None:
    idx = HnswIndex(8, capacity=4)
    vecs = _unit(50, 8)
    idx.add(np.arange(1, 51), vecs)  # past the initial capacity: resize_index
    assert idx.live_count == 50
    labels, scores = idx.search(vecs[10:11], 5)
    assert labels[0] == 11 and scores[0] == pytest.approx(1.0, abs=1e-5)
    idx.delete([11, 11, 999])  # repeated and unknown labels are harmless
    labels, _ = idx.search(vecs[10:11], 1000)
    assert 11 not in labels and len(labels) == 49
    assert idx.live_count == 49


def test_empty_index_returns_nothing() -> None:
    labels, scores = HnswIndex(4).search(_unit(1, 4), 10)
    assert len(labels) == 0 and len(scores) == 0


def test_save_load_and_catch_up_with_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "text.hnsw"
    idx = HnswIndex(8)
    vecs = _unit(10, 8)
    idx.add(np.arange(1, 11), vecs)
    idx.save(path)
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed into place
    loaded = HnswIndex.load(path, 8)
    assert loaded.labels().tolist() == list(range(1, 11))
    # the catalog says 3 and 4 are gone and 11 is new: the store deletes and adds
    loaded.delete([3, 4])
    loaded.add(np.array([11]), _unit(1, 8, seed=1))
    assert loaded.labels().tolist() == [1, 2, 5, 6, 7, 8, 9, 10, 11]
    labels, _ = loaded.search(vecs[2:3], 20)
    assert 3 not in labels and 4 not in labels


def test_a_file_of_another_dimension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.hnsw"
    idx = HnswIndex(8)
    idx.add(np.arange(3), _unit(3, 8))
    idx.save(path)
    with pytest.raises(IndexCorruptError):
        HnswIndex.load(path, 16)


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.hnsw"
    idx = HnswIndex(8)
    idx.add(np.arange(100), _unit(100, 8))
    idx.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="truncated"):
        HnswIndex.load(path, 8)


def test_params_build_and_search_the_graph(tmp_path: Path) -> None:
    params = HnswParams(m=8, ef_construction=40, ef_search=24)
    idx = HnswIndex(8, params=params)
    assert (idx._index.M, idx._index.ef_construction, idx._index.ef) == (8, 40, 24)
    idx.add(np.arange(5), _unit(5, 8))
    idx.save(tmp_path / "x.hnsw")
    # a loaded graph keeps the M it was built with; the search breadth is the caller's
    loaded = HnswIndex.load(tmp_path / "x.hnsw", 8, HnswParams(ef_search=33))
    assert (loaded._index.M, loaded._index.ef) == (8, 33)
    assert HnswIndex(8)._index.ef == HnswParams().ef_search


class _FilterSpy:
    """An hnswlib index that counts its filtered graph walks."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.walks = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def knn_query(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.walks += kwargs.get("filter") is not None
        return self.inner.knn_query(*args, **kwargs)


@pytest.mark.parametrize(("exact_scan_max", "walks"), [(20, 0), (19, 1)])
def test_exact_scan_limits_choose_how_a_filter_is_searched(exact_scan_max: int, walks: int) -> None:
    idx = HnswIndex(8, params=HnswParams(exact_scan_max=exact_scan_max, exact_scan_share=0.0))
    vecs = _unit(200, 8)
    idx.add(np.arange(200), vecs)
    spy = _FilterSpy(idx._index)
    idx._index = spy  # type: ignore[assignment]
    allowed = np.arange(0, 200, 10)
    labels, _ = idx.search(vecs[30:31], 5, allowed=allowed)
    assert spy.walks == walks
    assert labels[0] == 30 and set(labels.tolist()) <= set(allowed.tolist())


def test_scans_exactly_up_to_a_count_or_a_share() -> None:
    params = HnswParams(exact_scan_max=100, exact_scan_share=0.1)
    assert params.scans_exactly(100, 10)
    assert not params.scans_exactly(101, 1000)
    assert params.scans_exactly(200, 2000)  # a tenth of the index
    assert not HnswParams(exact_scan_max=0, exact_scan_share=0.0).scans_exactly(1, 1000)


def test_the_graph_walk_widens_as_the_index_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ef follows the live count (HnswParams.ef_for): after adds, and on load."""
    from searchengine.store import hnsw

    monkeypatch.setattr(hnsw, "EF_BY_SIZE", ((5, 300), (20, 500)))
    params = HnswParams(ef_search=64)
    assert [params.ef_for(n) for n in (0, 5, 6, 20, 21)] == [64, 64, 300, 300, 500]
    idx = HnswIndex(8, params=params)
    idx.add(np.arange(1, 5), _unit(4, 8))
    assert idx._index.ef == 64
    idx.add(np.arange(5, 11), _unit(6, 8, seed=1))
    assert idx._index.ef == 300
    idx.add(np.arange(11, 31), _unit(20, 8, seed=2))
    assert idx._index.ef == 500
    idx.save(tmp_path / "text.hnsw")
    assert HnswIndex.load(tmp_path / "text.hnsw", 8, params)._index.ef == 500
    labels, _ = idx.search(_unit(1, 8, seed=3), 400)  # k past the count: all 30
    assert len(labels) == 30 and idx._index.ef == 500
