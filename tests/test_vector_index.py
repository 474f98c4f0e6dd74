"""The hnswlib wrapper: growth, deletion, k past the live count, atomic save and reconcile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchengine.errors import IndexCorruptError
from searchengine.vector_index import HnswIndex


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


def test_save_load_and_reconcile_with_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "text.hnsw"
    idx = HnswIndex(8)
    vecs = _unit(10, 8)
    idx.add(np.arange(1, 11), vecs)
    idx.save(path)
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed into place
    loaded = HnswIndex.load(path, 8)
    # the catalog says 3 and 4 are gone and 11 is new
    live = np.array([1, 2, 5, 6, 7, 8, 9, 10, 11])
    missing = loaded.reconcile(live)
    assert missing.tolist() == [11]
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
