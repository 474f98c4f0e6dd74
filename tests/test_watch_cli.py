"""`semsearch watch` as a user runs it: a real process on the tiny real models, killed
with SIGKILL in the middle of a burst and started again, then stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from searchengine import Index, Settings
from searchengine.store import Store

pytestmark = pytest.mark.subprocess


def start(settings: Settings, docs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "searchengine",
            "--index",
            str(settings.index_dir),
            "--json",
            "watch",
            str(docs),
            "--settle",
            "0.2",
            "--no-word-vectors",
            "--text-model",
            str(settings.text_model),
            "--image-model",
            str(settings.image_model),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SEMSEARCH_HOME": str(settings.model_cache.parent)},
    )


def first_line(proc: subprocess.Popen[str]) -> dict:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return json.loads(line)


def files_in(settings: Settings) -> int:
    with Store.for_settings(settings) as store:
        return store.catalog.counts()["files"]


def test_a_watcher_killed_in_a_burst_catches_up_without_encoding_twice(
    settings: Settings, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "first.txt").write_text("the first file")
    proc = start(settings, docs)
    written = 0
    try:
        assert first_line(proc)["added"] == 1  # the catch-up run
        # The burst arrives in groups, as a copy does, and the watcher is killed as soon as
        # some of it is committed, while more is still arriving: a kill that late in a
        # burst on a fast machine would otherwise find everything done.
        # On a loaded machine the whole burst may be written before the first commit:
        # then wait for that commit, polling, rather than kill before anything is done.
        deadline = time.monotonic() + 90
        while True:
            if written < 400:
                for n in range(written, written + 20):
                    (docs / f"burst{n:03}.txt").write_text(f"burst file number {n}, word{n}")
                written += 20
            if files_in(settings) > 1:
                break
            assert time.monotonic() < deadline, "nothing committed"
            time.sleep(0.6 if written < 400 else 0.05)  # 0.6 s: longer than --settle
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    for n in range(written, 400):  # the rest of the burst, after the kill
        (docs / f"burst{n:03}.txt").write_text(f"burst file number {n}, word{n}")
    before = files_in(settings)
    assert before < 401, "the kill came too late to test anything"

    proc = start(settings, docs)
    try:
        caught_up = first_line(proc)
        (docs / "after.txt").write_text("a file after the restart")
        after = first_line(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert caught_up["added"] == 401 - before and caught_up["unchanged"] == before
    assert caught_up["encoded"] == 401 - before  # one chunk each: nothing encoded twice
    assert after["added"] == 1
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["event"] == "stopped" and stopped["state"] == "stopped"
    assert "nothing is half-written" in err
    with Index.open(settings=settings) as index:
        assert index.verify().clean
        assert index.status().counts["files"] == 402


def test_watch_says_what_is_wrong_without_a_traceback(settings: Settings, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "searchengine",
            "--index",
            str(settings.index_dir),
            "watch",
            str(tmp_path / "nowhere"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "no such folder" in run.stderr and "Traceback" not in run.stderr
