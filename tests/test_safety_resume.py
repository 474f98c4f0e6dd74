"""Stopping a run: at a batch boundary on request (Ctrl-C), and resuming where it stopped."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from safety_helpers import (
    Corpus,
    Zygote,
    assert_same_rankings,
    committed_hashes,
    fresh_settings,
    index_argv,
    rankings,
)

import indexer.pipeline
from searchengine import Index


def _verify_clean(index_dir: Path) -> bool:
    return Index.open(index_dir).verify().clean


def test_a_stop_request_ends_the_run_at_a_batch_boundary(
    tmp_path, fake_settings, encoders, monkeypatch
):
    settings = replace(fake_settings, text_batch=8)  # a flush every 8 files
    monkeypatch.setattr(indexer.pipeline, "FLUSH_BATCHES", 1)
    corpus = Corpus(tmp_path / "folder", seed=2, images=False)
    corpus.add(40)
    flushes = []
    real_flush = indexer.pipeline.IndexRun.flush

    def counting_flush(self):  # type: ignore[no-untyped-def]
        real_flush(self)
        flushes.append(self.written)

    monkeypatch.setattr(indexer.pipeline.IndexRun, "flush", counting_flush)
    with Index.open(settings=settings, encoders=encoders) as index:
        first = index.add(corpus.root, should_stop=lambda: len(flushes) >= 2)
    assert first.interrupted and first.committed == flushes[1] and 0 < first.committed < 40
    assert len(committed_hashes(settings.index_dir)) == first.committed
    assert _verify_clean(settings.index_dir)  # stopped cleanly: the index was saved

    with Index.open(settings=settings, encoders=encoders) as index:
        rest = index.add(corpus.root)
    assert not rest.interrupted
    assert rest.added == 40 - first.committed and rest.unchanged == first.committed
    assert rest.encoded == rest.chunks == rest.added  # one chunk each: nothing encoded twice


@pytest.fixture
def zygote():
    z = Zygote()
    yield z
    z.close()


def _until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ctrl_c_stops_cleanly_then_a_second_run_finishes(tmp_path, settings, zygote) -> None:
    corpus = Corpus(tmp_path / "folder", seed=4)
    corpus.add(60)
    log = tmp_path / "run.log"
    encode_log = tmp_path / "encoded.log"
    job = {
        "argv": index_argv(settings, corpus.root),
        "log": str(log),
        "encode_log": str(encode_log),
        "slow": 0.15,
    }
    import os

    pid = zygote.start("index", **job)
    # once something is committed, press Ctrl-C once
    _until(lambda: encode_log.exists() and encode_log.read_text().count("\n") >= 4)
    os.kill(pid, signal.SIGINT)
    assert zygote.wait(pid) == 130
    text = log.read_text()
    assert "stopping after the current batch" in text
    summary = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert summary["interrupted"] and 0 < summary["added"] < 60
    assert (
        f"interrupted: {summary['added']} files committed; run the same command again to finish"
        in text
    )
    assert _verify_clean(settings.index_dir)

    # Ctrl-C twice: stop at once; what was committed stays and the next run finishes.
    # The second press goes as soon as the first is acknowledged; if the run had already
    # stopped by itself between two batches (the graceful way, tested above), try again.
    for _attempt in range(5):
        log.write_text("")
        pid = zygote.start("index", **job)
        committed = len(committed_hashes(settings.index_dir))
        _until(lambda n=committed: len(committed_hashes(settings.index_dir)) > n)
        os.kill(pid, signal.SIGINT)
        _until(lambda: "stopping after the current batch" in log.read_text(), timeout=10)
        with contextlib.suppress(ProcessLookupError):  # it may have stopped by itself
            os.kill(pid, signal.SIGINT)
        assert zygote.wait(pid) == 130
        if "files committed; run the same command again" not in log.read_text():
            break
    assert "interrupted; what was committed is kept" in log.read_text()

    before = committed_hashes(settings.index_dir)
    seen = encode_log.read_text().count("\n")
    assert zygote.wait(zygote.start("index", **{**job, "slow": 0.0})) == 0
    again = {line.split("\t")[0] for line in encode_log.read_text().splitlines()[seen:]}
    assert not again & before  # nothing committed was encoded again
    assert len(committed_hashes(settings.index_dir)) == 60
    assert _verify_clean(settings.index_dir)

    fresh = fresh_settings(settings, "fresh")
    assert (
        zygote.wait(
            zygote.start("index", **{**job, "argv": index_argv(fresh, corpus.root), "slow": 0.0})
        )
        == 0
    )
    queries = [p.read_text() for p in corpus.files() if p.suffix == ".txt"][:8]
    assert_same_rankings(rankings(settings, queries, "text"), rankings(fresh, queries, "text"))
