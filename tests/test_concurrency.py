"""One writer at a time; any number of searches beside it, in threads and in processes."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import open_catalog, paths, run_index
from safety_helpers import Corpus, Zygote, index_argv

from searchengine import Index
from searchengine.cli.main import main
from searchengine.store.hnsw import HnswIndex
from searchengine.store.lock import WriterLock


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.sqlite_only("the writer lock file of the index folder")
def test_a_second_writer_is_told_who_holds_the_lock_or_waits(corpus: Path, settings, capsys):
    argv = index_argv(settings, corpus)
    settings.index_dir.mkdir(parents=True)
    holder = WriterLock(settings.index_dir, "indexing")
    holder.acquire()
    try:
        code, out, err = _cli(capsys, *argv)
        assert code == 5 and out == ""
        assert f"is being written by pid {os.getpid()} (indexing, since" in err
        assert "--wait" in err

        started = time.monotonic()
        code, _, err = _cli(capsys, *argv, "--wait", "0.6")
        assert code == 5 and time.monotonic() - started >= 0.6
        assert "waiting for pid" in err

        threading.Timer(0.5, holder.release).start()
        code, out, err = _cli(capsys, *argv, "--wait")
    finally:
        holder.release()
    assert code == 0 and "waiting for pid" in err
    assert json.loads(out)["added"] == 6


def test_searches_in_threads_while_another_thread_changes_the_index() -> None:
    rng = np.random.default_rng(0)
    dim = 16
    idx = HnswIndex(dim, capacity=64)
    vecs = rng.normal(size=(3000, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    idx.add(np.arange(1, 201), vecs[:200])
    deleted_before: dict[int, float] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        label = 201
        while label < 3000 and not stop.is_set():
            idx.add(np.arange(label, label + 20), vecs[label - 1 : label + 19])  # grows: resizes
            gone = list(range(label - 150, label - 140))
            idx.delete(gone)
            now = time.monotonic()
            for g in gone:
                deleted_before.setdefault(g, now)
            label += 20

    def searcher() -> None:
        try:
            while not stop.is_set():
                started = time.monotonic()
                labels, scores = idx.search(vecs[rng.integers(0, 200)][None, :], 10)
                assert len(labels) == len(set(labels.tolist()))
                for label in labels.tolist():
                    gone_at = deleted_before.get(label)
                    assert gone_at is None or gone_at > started, label
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    w = threading.Thread(target=writer)
    w.start()
    w.join(timeout=60)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert idx.live_count == len(set(range(1, idx.element_count + 1)) - set(deleted_before))


@pytest.mark.sqlite_only(
    "index file generations saved by the one writer (test_postgres.py has the shared form)"
)
def test_a_searcher_picks_up_a_new_generation_without_reopening(
    corpus: Path, fake_settings, encoders, caplog
) -> None:
    run_index(corpus, fake_settings, encoders)
    query = "fresh bread from the oven, a new recipe"
    with Index.open(settings=fake_settings, encoders=encoders) as index:  # stays open throughout
        assert paths(index.search("a puppy walks in the park", spaces={"text"}))
        generation = _generation(index)

        (corpus / "new.txt").write_text(query)
        run_index(corpus, fake_settings, encoders)  # another Index, as another process would
        assert _generation(index) > generation
        with caplog.at_level(logging.INFO, logger="searchengine.store"):
            hits = index.search(query, spaces={"text"})
        assert "new.txt" in paths(hits)
        assert f"is at generation {_generation(index)} now; reloading it" in caplog.text

        # a delete committed to the catalog, its index not saved yet: never returned
        writer = open_catalog(fake_settings.index_dir)
        writer.remove_files([str(corpus / "new.txt")])
        writer.close()
        assert "new.txt" not in paths(index.search(query, spaces={"text"}))


def _generation(index: Index) -> int:
    """The text index's generation the catalog records."""
    return next(int(s["index_generation"]) for s in index.status().spaces if s["name"] == "text")


@pytest.fixture
def zygote():
    z = Zygote()
    yield z
    z.close()


def test_searches_in_other_processes_while_a_process_indexes(
    tmp_path: Path, settings, zygote
) -> None:
    corpus = Corpus(tmp_path / "folder", seed=3, images=False)
    corpus.add(25)
    argv = index_argv(settings, corpus.root)
    log = tmp_path / "runs.log"
    job = {"argv": argv, "log": str(log), "encode_log": str(tmp_path / "enc"), "slow": 0.02}
    assert zygote.wait(zygote.start("index", **job)) == 0

    snapshots: list[tuple[float, set[str]]] = [(0.0, _catalog_paths(settings.index_dir))]
    stop_file = tmp_path / "stop"
    queries = [p.read_text() for p in corpus.files()][:10] + ["car engine", "dog park rain"]
    model = {
        "index_dir": str(settings.index_dir),
        "model_cache": str(settings.model_cache),
        "text_model": settings.text_model,
        "image_model": settings.image_model,
    }
    readers = [
        zygote.start(
            "search",
            log=str(tmp_path / f"reader{i}.log"),
            settings=model,
            queries=queries,
            seed=i,
            stop_file=str(stop_file),
            out=str(tmp_path / f"reader{i}.json"),
            min_searches=20,
        )
        for i in range(3)
    ]
    # every searcher has its index loaded before the runs start: on a busy machine a
    # searcher's first search could otherwise come after all of them, with nothing to reload
    deadline = time.monotonic() + 300
    while not all((tmp_path / f"reader{i}.json.ready").exists() for i in range(3)):
        assert time.monotonic() < deadline, "the searchers never searched"
        time.sleep(0.1)
    for _ in range(4):
        corpus.add(6)
        corpus.edit(3)
        corpus.rename(2)
        corpus.delete(3)
        status = zygote.wait(zygote.start("index", **job))
        assert status == 0, log.read_text()[-2000:]
        snapshots.append((time.time(), _catalog_paths(settings.index_dir)))
    stop_file.write_text("done")
    for pid in readers:
        assert zygote.wait(pid) == 0

    for i in range(3):
        result = json.loads((tmp_path / f"reader{i}.json").read_text())
        assert result["errors"] == [], result["errors"][0]
        records = result["records"]
        assert len(records) >= 20
        generations = {r["generation"] for r in records if r["generation"] is not None}
        if not os.environ.get("SEMSEARCH_CATALOG"):  # shared: test_postgres.py, dense mode
            assert len(generations) >= 2, "the long-lived searcher never reloaded"
        for r in records:
            # the catalog as of the last run done before this search started, or later
            allowed = set().union(*(s for t, s in snapshots if t >= _last_before(snapshots, r)))
            for path, snippet in r["hits"]:
                assert path in allowed, f"{path} was deleted before the search started"
                assert Path(path).stem in snippet, "a hit shows another file's text"


def _last_before(snapshots: list[tuple[float, set[str]]], record: dict) -> float:
    return max(t for t, _ in snapshots if t <= record["started"])


def _catalog_paths(index_dir: Path) -> set[str]:
    catalog = open_catalog(index_dir)
    try:
        return {f.path for f in catalog.iter_files()}
    finally:
        catalog.close()
