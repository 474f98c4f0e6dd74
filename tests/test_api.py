"""The library facade, `searchengine.Index`, with deterministic fake encoders."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fakes import FakeImageEncoder, FakeTextEncoder

from searchengine import Encoders, Index, Settings, make_filters
from searchengine.errors import (
    ConfigError,
    LockedError,
    ModelMismatchError,
    NoIndexError,
)
from searchengine.store.lock import WriterLock


def fakes() -> Encoders:
    return Encoders(text=FakeTextEncoder(), image=FakeImageEncoder())


@pytest.fixture
def index(tmp_path: Path, corpus: Path):
    settings = Settings(index_dir=tmp_path / "index", model_cache=tmp_path / "models")
    with Index.open(settings=settings, encoders=fakes()) as idx:
        idx.add(corpus)
        yield idx


def names(results) -> list[str]:
    return [Path(h.path).name for h in results]


def test_add_reports_and_search_finds_by_meaning(tmp_path: Path, corpus: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", model_cache=tmp_path / "models")
    with Index.open(settings=settings, encoders=fakes()) as index:
        phases: list[str] = []
        report = index.add(corpus, on_progress=lambda phase, done, total: phases.append(phase))
        assert (report.added, report.images, report.skipped) == (6, 2, [])
        assert {"scan", "encode"} <= set(phases)
        # the Korean file says 자동차; the fake folds 승용차 into the same meaning
        assert names(index.search("승용차", k=1, spaces={"text"})) == ["korean.txt"]
        assert names(index.search("red", k=1, spaces={"image"})) == ["red.png"]
        again = index.add(corpus)
        assert (again.added, again.unchanged, again.encoded) == (0, 6, 0)


def test_results_json_is_the_cli_shape(index: Index) -> None:
    results = index.search("walk the puppy", k=3, mode="dense")
    obj = json.loads(json.dumps(results.to_json()))
    assert set(obj) == {"query", "mode", "offset", "k", "good_matches", "hits"}
    assert (obj["query"], obj["mode"], obj["k"], obj["offset"]) == ("walk the puppy", "dense", 3, 0)
    assert obj["hits"][0]["path"].endswith("dog.md")
    assert {"path", "kind", "score", "snippet", "good_match"} <= set(obj["hits"][0])
    assert len(results) == len(obj["hits"]) and results[0].path == obj["hits"][0]["path"]


def test_notes_belong_to_one_call(index: Index) -> None:
    noted = index.search("banana", spaces={"image"}, mode="lexical")
    assert noted.notes and "no image is tagged" in noted.notes[0]
    assert index.search("banana", mode="lexical").notes == ()
    assert index.search("banana", spaces={"image"}, mode="dense").notes == ()


def test_paging_and_filters(index: Index, corpus: Path) -> None:
    everything = names(index.search("the car", k=20))
    pages = names(index.search("the car", k=2)) + names(index.search("the car", k=20, offset=2))
    assert pages == everything and len(everything) == 6
    under_sub = index.search("the car", k=20, filters=make_filters(folders=[str(corpus / "sub")]))
    assert sorted(names(under_sub)) == ["banana.html", "blue.jpg"]


def test_search_by_image_and_similar(index: Index, corpus: Path) -> None:
    by_image = index.search(image=corpus / "red.png", k=2)
    assert by_image.mode == "image" and names(by_image)[0] == "red.png"
    similar = index.similar(corpus / "dog.md", k=3)
    assert "dog.md" not in names(similar) and similar.mode == "similar"


def test_searching_from_many_threads_agrees_with_one(index: Index) -> None:
    queries = ["car price", "puppy", "banana recipe", "자동차", "red", "blue"] * 4
    alone = [names(index.search(q, k=4)) for q in queries]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda q: names(index.search(q, k=4)), queries))
    assert together == alone


def test_a_search_runs_while_another_thread_adds(tmp_path: Path, corpus: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", model_cache=tmp_path / "models")
    with Index.open(settings=settings, encoders=fakes()) as index:
        index.add(corpus)
        (corpus / "more.txt").write_text("a banana bread recipe", encoding="utf-8")
        adding, resume = threading.Event(), threading.Event()

        def slow_stop() -> bool:
            adding.set()
            resume.wait(10)
            return False

        writer = threading.Thread(target=lambda: index.add(corpus, should_stop=slow_stop))
        writer.start()
        assert adding.wait(10)
        try:
            assert names(index.search("puppy", k=1)) == ["dog.md"]  # not blocked by the writer
            with pytest.raises(LockedError) as locked:  # a second writer is refused at once
                Index.open(settings=settings, encoders=fakes()).add(corpus)
        finally:
            resume.set()
            writer.join(10)
        assert locked.value.holder.startswith("pid ") and "--" not in str(locked.value)
        assert "more.txt" in names(index.search("banana bread", k=3))  # seen once committed
        # the lock is held for the call only: the next add takes it again
        assert index.add(corpus).unchanged == 7


@pytest.mark.sqlite_only("the writer lock file of the index folder")
def test_lock_holder_is_data(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    held = WriterLock(tmp_path / "index", "testing")
    held.acquire()
    try:
        with pytest.raises(LockedError) as err:
            Index.open(tmp_path / "index", encoders=fakes()).add(tmp_path)
        assert err.value.index_dir == tmp_path / "index" and "testing" in err.value.holder
    finally:
        held.release()


@pytest.mark.sqlite_only("no catalog file in a folder that was never indexed")
def test_errors_say_what_is_wrong(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(NoIndexError) as err:
        Index.open(tmp_path / "nothing", encoders=fakes()).search("car")
    assert err.value.index_dir == tmp_path / "nothing" and "semsearch" not in str(err.value)
    with pytest.raises(ConfigError, match="no such folder"):
        Index.open(tmp_path / "never", encoders=fakes()).add(tmp_path / "missing")
    assert not (tmp_path / "never").exists()  # a failed add leaves no index folder behind
    index = Index.open(tmp_path / "index", encoders=fakes())
    with pytest.raises(ConfigError):
        index.search()
    with pytest.raises(ConfigError):
        index.search("car", image=corpus / "red.png")
    index.add(corpus)
    with pytest.raises(ConfigError):
        index.search("car", k=0)
    with pytest.raises(ConfigError):
        index.search("   ")
    other = Encoders(text=FakeTextEncoder(version="2"), image=FakeImageEncoder())
    # the way out is named: a shipped model's new weights keep its name, reembed swaps them
    with pytest.raises(ModelMismatchError, match="semsearch reembed --text-model fake-text"):
        Index.open(tmp_path / "index", encoders=other).search("car")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError):
        Index.open(tmp_path / "a-file")


def test_status_verify_repair(index: Index) -> None:
    status = index.status()
    assert status.counts["files_text"] == 4 and status.counts["files_image"] == 2
    assert {s["name"] for s in status.spaces} == {"text", "image"}
    assert status.to_json()["total_bytes"] == status.total_bytes > 0
    assert index.verify().clean
    (index.path / "text.hnsw").write_bytes(b"garbage")
    assert not index.verify().clean
    repaired = index.repair()
    assert repaired.clean and any("rebuilt text.hnsw" in line for line in repaired.done)
    assert names(index.search("puppy", k=1)) == ["dog.md"]


def test_one_model_load_per_index(tmp_path: Path, corpus: Path, tiny_bert_dir: Path) -> None:
    from searchengine.models import text_encoder

    loads: list[str] = []
    real_load = text_encoder.TextEncoder._load

    def counting(self):  # type: ignore[no-untyped-def]
        if not self.loaded:
            loads.append(self.name)
        real_load(self)

    settings = Settings(
        index_dir=tmp_path / "index", model_cache=tmp_path / "models", text_model=str(tiny_bert_dir)
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(text_encoder.TextEncoder, "_load", counting)
        with Index.open(settings=settings, encoders=Encoders(image=FakeImageEncoder())) as index:
            index.add(corpus)
            index.search("car", k=2)
            index.close()
            index.search("dog", k=2)  # reopened after close: the model stays loaded
    assert loads == [str(tiny_bert_dir)]


def test_far_dates_are_not_an_overflow(index: Index) -> None:
    assert len(index.search("car", filters=make_filters(after="2999-01-01"))) == 0
    assert len(index.search("car", filters=make_filters(before="2999-01-01"))) > 0


def test_sort_by_date_lists_the_same_matches_newest_first(index: Index, corpus: Path) -> None:
    import os

    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    for age, path in enumerate(files):  # each file a day older than the one before
        os.utime(path, (1.7e9 - age * 86400, 1.7e9 - age * 86400))
    index.add(corpus)  # the new times reach the catalog
    by_relevance = index.search("the car", k=20)
    by_date = index.search("the car", k=20, sort="date")
    good = [h.path for h in by_relevance if h.good] or [h.path for h in by_relevance]
    assert sorted(h.path for h in by_date) == sorted(good)
    times = [os.stat(h.path).st_mtime for h in by_date]
    assert times == sorted(times, reverse=True)
    pages = index.search("the car", k=2, sort="date").hits
    pages += index.search("the car", k=20, offset=2, sort="date").hits
    assert [h.path for h in pages] == [h.path for h in by_date]
    with pytest.raises(ConfigError):
        index.search("the car", sort="size")  # type: ignore[arg-type]


def test_settings_take_folders_as_strings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from searchengine import Settings

    s = Settings(index_dir=str(tmp_path / "index"), model_cache="~/models")  # type: ignore[arg-type]
    assert s.index_dir == tmp_path / "index" and s.model_cache == Path.home() / "models"


def test_a_search_takes_what_it_loaded_out_of_the_collectors_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first search the loaded models and maps stay: a full garbage collection
    no longer walks them (gc.freeze), which took ~100 ms of the slowest searches."""
    import gc

    from searchengine import api

    monkeypatch.setattr(api, "_heap_settled", False)
    gc.unfreeze()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("a note about cars", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", model_cache=tmp_path / "models")
    with Index.open(settings=settings, encoders=Encoders(text=FakeTextEncoder())) as index:
        index.add(docs)
        assert gc.get_freeze_count() == 0
        index.search("cars", k=1)
    assert gc.get_freeze_count() > 0 and api._heap_settled
