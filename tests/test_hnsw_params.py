"""How an index graph is sized (issue 30, bench/bench_recall.py): new graphs get M=32 and
large indexes a wider walk; a graph built with M=16 still opens, and a rebuild gives it
the new M."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from searchengine import config
from searchengine.catalog import NewItem, SpaceInfo
from searchengine.config import Settings
from searchengine.records import Chunk
from searchengine.store import Store
from searchengine.store import hnsw as hnsw_module
from searchengine.store.hnsw import LARGE_INDEX, HnswIndex, HnswParams
from searchengine.store.verify import repair


def _text(store: Store) -> SpaceInfo:
    space = store.catalog.space("text")
    assert space is not None
    return space


def _unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_new_graph_gets_m_32() -> None:
    # at 1M fitted vectors M=16 found 0.846 of the true top 10 at ef 1,600, M=32 0.937
    assert config.DEFAULT_HNSW_M == 32
    assert Settings().hnsw_m == 32
    idx = HnswIndex(8)
    assert (idx._index.M, idx._index.ef_construction) == (32, 200)


def test_large_indexes_walk_wider() -> None:
    params = HnswParams()
    assert params.ef_for(4_096) == params.ef_search
    assert params.ef_for(4_097) == params.ef_for(LARGE_INDEX) == 1_600
    # past the warm searcher's exact scan: what reached 0.98 at 1M with M=32
    assert params.ef_for(LARGE_INDEX + 1) == params.ef_for(1_000_000) == 4_800


def test_a_graph_of_m16_opens_searches_and_warns_when_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "text.hnsw"
    old = HnswIndex(8, params=HnswParams(m=16))
    vecs = _unit(40, 8)
    old.add(np.arange(40), vecs)
    old.save(path)
    with caplog.at_level(logging.WARNING, logger="searchengine.store.hnsw"):
        loaded = HnswIndex.load(path, 8)
    assert loaded._index.M == 16 and not caplog.records  # small: M=16 is fine there
    labels, scores = loaded.search(vecs[7:8], 3)
    assert labels[0] == 7 and scores[0] == pytest.approx(1.0, abs=1e-5)
    monkeypatch.setattr(hnsw_module, "LARGE_INDEX", 30)
    with caplog.at_level(logging.WARNING, logger="searchengine.store.hnsw"):
        HnswIndex.load(path, 8)
    assert "built with M=16" in caplog.text and "semsearch repair" in caplog.text


@pytest.mark.sqlite_only("index files kept by the one writer")
def test_repair_rebuilds_a_graph_of_m16_with_the_new_m(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    vecs = _unit(30, 4)
    with Store(settings.index_dir, writer=True, hnsw=HnswParams(m=16)) as store:
        store.catalog.ensure_space("text", "m", "fp", 4)
        items = [
            NewItem(f"/c/{i}.txt", "text", 1, 1, f"{i}", "text", [Chunk("x", 0, 1)], v[None])
            for i, v in enumerate(vecs)
        ]
        added, _ = store.catalog.write_items(items, {"text": "fp"})
        store.apply(_text(store), added["text"], vecs, [])
        store.save()
    with Store.for_settings(settings) as store:  # a searcher of today's settings
        idx = store.hnsw_index(_text(store))
        assert idx._index.M == 16
        labels, _ = idx.search(vecs[5:6], 1)
        assert labels[0] == added["text"][5]
    with Store.for_settings(settings, writer=True, purpose="repair") as store:
        repair(store, check_sources=False)
    with Store.for_settings(settings) as store:
        idx = store.hnsw_index(_text(store))
        assert idx._index.M == 32 and idx.live_count == 30
        labels, _ = idx.search(vecs[5:6], 1)
        assert labels[0] == added["text"][5]
