"""`Index.watcher`: real inotify events in tmp_path, through the real pipeline, on the
fake encoders. Each test starts a watcher in a thread and waits for what a user would
see: a search that finds the file, the catalog's counts, a clean verify."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.walk import walk_paths
from searchengine import Index, IndexReport, Settings
from searchengine.store import Store

SETTLE = 0.6  # no less than watchdog waits for the second half of a rename


class Running:
    """A watcher running in a thread, and every report it made."""

    def __init__(self, index: Index, folders: list[Path], **kw: float):
        self.index = index
        self.reports: list[tuple[list[Path] | None, IndexReport]] = []
        self.watcher = index.watcher(
            folders,
            settle_s=kw.pop("settle_s", SETTLE),
            on_report=lambda root, report, paths: self.reports.append((paths, report)),
            **kw,
        )
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()
        assert self.watcher.started.wait(60), "the watcher did not start"

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(60)
        assert not self.thread.is_alive()

    def total(self, field: str, since: int = 0) -> int:
        return sum(getattr(r, field) for _, r in self.reports[since:])


def until(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> float:
    """Seconds until `check()` is true; fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def quiet_settings(fake_settings: Settings) -> Settings:
    return replace(fake_settings, word_vectors=False, lock_wait_s=30)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "old.txt").write_text("an old note about gardening and tomatoes")
    return root


@pytest.fixture
def running(quiet_settings: Settings, encoders, docs: Path) -> Iterator[Running]:
    with Index.open(settings=quiet_settings, encoders=encoders) as index:
        run = Running(index, [docs])
        yield run
        run.stop()


def found(index: Index, phrase: str, name: str) -> bool:
    return any(Path(h.path).name == name for h in index.search(phrase, k=5, mode="lexical"))


def files_in(settings: Settings) -> int:
    with Store.for_settings(settings) as store:
        return store.catalog.counts()["files"]


def test_the_first_run_catches_up_with_the_folder(running: Running) -> None:
    (paths, first), *_ = running.reports
    assert paths is None and first.added == 1
    assert found(running.index, "gardening tomatoes", "old.txt")


def test_a_new_file_is_found_and_a_deleted_one_is_gone_within_seconds(
    running: Running, docs: Path
) -> None:
    (docs / "new.md").write_text("# quokka saxophone\nthe zanzibar quokka plays saxophone")
    took = until(lambda: found(running.index, "zanzibar quokka", "new.md"), 10, "new file")
    assert took < 10
    (docs / "new.md").unlink()
    took = until(lambda: not found(running.index, "zanzibar quokka", "new.md"), 10, "deleted")
    assert took < 10
    assert running.index.verify().clean


def test_a_modified_file_is_updated(running: Running, docs: Path) -> None:
    (docs / "old.txt").write_text("now it is about beekeeping and honey")
    until(lambda: running.total("updated") == 1, 10, "update")
    assert found(running.index, "beekeeping honey", "old.txt")
    assert not found(running.index, "gardening tomatoes", "old.txt")
    assert running.total("added", 1) == 0


def test_a_renamed_folder_of_100_files_is_encoded_zero_times(running: Running, docs: Path) -> None:
    folder = docs / "project"
    folder.mkdir()
    for n in range(100):
        (folder / f"note{n:03}.txt").write_text(f"project note number {n} about walrus{n}")
    until(lambda: running.total("added") == 101, 30, "the 100 files")
    before = len(running.reports)
    folder.rename(docs / "renamed")
    until(lambda: running.total("moved", before) == 100, 20, "the rename")
    time.sleep(SETTLE * 3)  # any late event of the rename
    assert running.total("encoded", before) == 0
    assert running.total("added", before) == running.total("removed", before) == 0
    assert found(running.index, "walrus7", "note007.txt")
    hit = running.index.search("walrus7", k=1, mode="lexical")[0]
    assert "/renamed/" in hit.path
    assert running.index.verify().clean


def test_a_moved_file_keeps_its_vectors(running: Running, docs: Path) -> None:
    (docs / "sub").mkdir()
    before = len(running.reports)
    (docs / "old.txt").rename(docs / "sub" / "moved.txt")
    until(lambda: running.total("moved", before) == 1, 10, "the move")
    assert running.total("encoded", before) == 0
    assert found(running.index, "gardening tomatoes", "moved.txt")


def test_an_editors_save_by_rename_is_one_update(running: Running, docs: Path) -> None:
    before = len(running.reports)
    tmp = docs / "old.txt.tmp~"
    tmp.write_text("the saved text speaks of marmalade")
    tmp.replace(docs / "old.txt")
    until(lambda: found(running.index, "marmalade", "old.txt"), 10, "the save")
    time.sleep(SETTLE * 3)
    assert running.total("updated", before) == 1
    assert running.total("added", before) == running.total("removed", before) == 0


def test_a_file_written_slowly_is_indexed_once_when_it_settles(
    running: Running, docs: Path
) -> None:
    before = len(running.reports)
    with open(docs / "slow.txt", "w") as fh:  # open for 3 s, written in pieces
        for n in range(6):
            fh.write(f"slow part {n} pelican{n} ")
            fh.flush()
            time.sleep(0.5)
    until(lambda: found(running.index, "pelican5", "slow.txt"), 15, "the slow file")
    time.sleep(SETTLE * 3)
    assert running.total("added", before) == 1
    assert running.total("updated", before) == 0
    assert running.total("encoded", before) == 1


def test_a_burst_of_1000_files_is_indexed_completely(running: Running, docs: Path) -> None:
    burst = docs / "burst"
    burst.mkdir()
    for n in range(1000):
        (burst / f"b{n:04}.txt").write_text(f"burst file {n} token{n}x")
    until(lambda: files_in(running.index.settings) == 1001, 120, "1000 files")
    time.sleep(SETTLE * 3)
    assert running.total("added") == 1001  # the first run's file too
    report = running.index.verify()
    assert report.clean, report.to_json()
    assert found(running.index, "token999x", "b0999.txt")


def test_the_index_folder_inside_a_watched_folder_is_left_alone(
    quiet_settings: Settings, encoders, docs: Path
) -> None:
    settings = replace(quiet_settings, index_dir=docs / ".semsearch")
    with Index.open(settings=settings, encoders=encoders) as index:
        run = Running(index, [docs])
        (docs / "one.txt").write_text("one more file")
        until(lambda: run.total("added") == 2, 10, "the new file")
        time.sleep(2)  # our own writes to the catalog must not start runs
        runs = len(run.reports)
        time.sleep(2)
        run.stop()
    assert len(run.reports) == runs


def test_a_writer_holding_the_lock_is_waited_for(
    quiet_settings: Settings, encoders, running: Running, docs: Path
) -> None:
    with Store.for_settings(quiet_settings, writer=True, purpose="indexing"):
        (docs / "later.txt").write_text("written while another writer held the lock: ibex")
        until(lambda: running.watcher.state.state == "retrying", 10, "the wait")
        assert "indexing" in (running.watcher.state.detail or "")
    until(lambda: running.total("added") == 2, 15, "after the lock")
    assert found(running.index, "ibex", "later.txt")
    assert running.watcher.state.detail == ""


def test_the_state_says_what_was_done(running: Running, docs: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    until(lambda: running.watcher.state.skipped, 10, "the skip")
    state = running.watcher.state.to_json()
    assert state["state"] in ("watching", "indexing")
    assert state["folders"] == [str(docs)]
    assert state["skipped"][0]["path"].endswith("broken.pdf")
    assert state["last_change"] is not None and state["runs"] >= 1


def test_stopping_in_the_middle_leaves_nothing_half_written(
    quiet_settings: Settings, encoders, docs: Path
) -> None:
    for n in range(300):
        (docs / f"s{n}.txt").write_text(f"stop file {n}")
    with Index.open(settings=replace(quiet_settings, text_batch=8), encoders=encoders) as index:
        run = Running.__new__(Running)  # stop during the first run
        run.reports = []
        run.watcher = index.watcher(
            [docs], on_report=lambda r, rep, p: run.reports.append((p, rep))
        )
        thread = threading.Thread(target=run.watcher.run)
        thread.start()
        until(lambda: run.watcher.state.phase == "write", 30, "writing")
        run.watcher.stop()
        thread.join(30)
        assert run.watcher.state.state == "stopped"
        assert index.verify(check_sources=False).clean
        rest = index.add(docs)
    assert rest.added + run.total("added") == 301


def test_walk_paths_follows_the_walks_rules(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / ".hidden").mkdir(parents=True)
    (root / "skip").mkdir()
    (root / "keep").mkdir()
    for p in (".hidden/a.txt", "skip/b.txt", "keep/c.txt", "d.txt", "e.bin"):
        (root / p).write_text("x")
    (root / ".semsearchignore").write_text("skip\n")
    wanted = [
        root / p for p in (".hidden/a.txt", "skip/b.txt", "keep", "d.txt", "e.bin", "gone.txt")
    ]
    names = sorted(Path(f.path).name for f in walk_paths(root, wanted))
    assert names == ["c.txt", "d.txt"]
