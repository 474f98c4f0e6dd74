"""A hypothesis state machine against a brute-force model of the same data.

Rules add, update, delete and search items, close and reopen the store, crash
it (no save) and damage its index file. After every step the catalog, the
HNSW index and the model hold the same live set with no duplicates; searches
are compared with exact search, and recall@10 over a run must be >= 0.95.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from searchengine.catalog import NewItem
from searchengine.records import Chunk
from searchengine.store import Store

DIM = 12
FINGERPRINT = "fake-model"
RECALL_FLOOR = 0.95


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class IndexMachine(RuleBasedStateMachine):
    paths = Bundle("paths")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="semsearch-stateful-"))
        self.rng = np.random.default_rng(0)
        self.model: dict[str, dict[int, np.ndarray]] = {}  # path -> label -> vector
        self.counter = 0
        self.found = self.wanted = 0
        self.store = self._open()

    def _open(self) -> Store:
        # compact often, so that compaction is part of what is exercised
        return Store(self.dir, writer=True, durable=False, compact_min_deleted=4)

    @initialize()
    def make_space(self) -> None:
        self.store.catalog.ensure_space("text", "fake", FINGERPRINT, DIM)

    def _space(self):  # type: ignore[no-untyped-def]
        return self.store.catalog.space("text")

    def _write(self, path: str, n: int) -> None:
        self.counter += 1
        vecs = _unit(self.rng, n)
        chunks = [Chunk(f"chunk {i} of {path}", 0, 1, None, i) for i in range(n)]
        item = NewItem(path, "text", n, self.counter, f"h{self.counter}", "text", chunks, vecs)
        added, removed = self.store.catalog.write_items([item], {"text": FINGERPRINT})
        self.store.apply(self._space(), added["text"], vecs, removed.get("text", []))
        assert set(removed.get("text", [])) == set(self.model.get(path, {}))
        self.model[path] = dict(zip(added["text"], vecs, strict=True))

    @rule(target=paths, n=st.integers(1, 3))
    def add(self, n: int) -> str:
        path = f"/corpus/file{self.counter}.txt"
        self._write(path, n)
        return path

    @rule(path=paths, n=st.integers(1, 3))
    def update(self, path: str, n: int) -> None:
        if path in self.model:
            self._write(path, n)

    @rule(path=consumes(paths))
    def delete(self, path: str) -> None:
        dropped = self.store.catalog.remove_files([path])
        self.store.apply(self._space(), [], np.zeros((0, DIM), np.float32), dropped.get("text", []))
        assert set(dropped.get("text", [])) == set(self.model.pop(path, {}))

    @rule(seed=st.integers(0, 2**16))
    def search(self, seed: int) -> None:
        live = {label: vec for labels in self.model.values() for label, vec in labels.items()}
        if not live:
            return
        query = _unit(np.random.default_rng(seed), 1)
        labels, scores = self.store.hnsw_index(self._space()).search(query, 10)
        assert len(set(labels.tolist())) == len(labels)
        assert set(labels.tolist()) <= set(live)
        ids = np.array(list(live))
        exact = ids[np.argsort(-(np.stack(list(live.values())) @ query[0]), kind="stable")][:10]
        self.wanted += len(exact)
        self.found += len(set(exact.tolist()) & set(labels.tolist()))

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()

    @rule()
    def crash(self) -> None:
        # killed: nothing saved since the last save; the catalog has it all
        self.store.close(save=False)
        self.store = self._open()

    @precondition(lambda self: (self.dir / "text.hnsw").exists())
    @rule(how=st.sampled_from(["delete", "truncate", "stale"]))
    def damage_index_file(self, how: str) -> None:
        self.store.close()
        path = self.dir / "text.hnsw"
        if how == "delete":
            path.unlink()
        elif how == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
        else:
            shutil.copy(path, self.dir / "stale.hnsw")
            self.store = self._open()
            self._write(f"/corpus/late{self.counter}.txt", 2)
            self.store.close()
            shutil.copy(self.dir / "stale.hnsw", path)  # an older generation comes back
        self.store = self._open()

    @invariant()
    def same_live_set(self) -> None:
        if not hasattr(self, "store") or self._space() is None:
            return
        labels = [label for vecs in self.model.values() for label in vecs]
        assert len(labels) == len(set(labels))
        catalog_labels = self.store.catalog.live_labels("text").tolist()
        assert catalog_labels == sorted(labels)
        index = self.store.hnsw_index(self._space())
        assert index.labels().tolist() == sorted(labels)
        assert index.live_count == len(labels)
        assert len(self.store.catalog.files_under("/corpus")) == len(self.model)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.wanted:
            recall = self.found / self.wanted
            assert recall >= RECALL_FLOOR, f"recall@10 {recall:.3f} < {RECALL_FLOOR}"


IndexMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# the one writer of a SQLite catalog keeps its own index; a shared catalog's writers keep
# none (searchers catch theirs up: test_postgres.py)
TestIndexAgainstBruteForce = pytest.mark.slow(  # many generated runs of a writer
    pytest.mark.sqlite_only("the one writer's own index")(IndexMachine.TestCase)
)
