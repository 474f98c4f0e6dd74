"""Kill the indexer at random moments: nothing lost, nothing corrupted, nothing re-encoded.

An indexer (the real CLI, in its own process) is killed with SIGKILL at a
random moment of each of 30 runs over a folder that changes between runs.
After each kill `verify` is clean or `repair` makes it clean; a final full
run then gives the same search results as a fresh index of the same folder.
Every item is logged just before its commit, so an item encoded again after
it had been committed shows up as a logged hash that the catalog already held.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
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

from searchengine import Index
from searchengine.store import CATALOG_NAME

KILLS = 30


@pytest.fixture
def zygote():
    z = Zygote()
    yield z
    z.close()


def _logged(encode_log: Path, start: int) -> tuple[list[str], int]:
    if not encode_log.exists():
        return [], start
    lines = encode_log.read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[0] for line in lines[start:]], len(lines)


def _verify(index_dir: Path):
    return Index.open(index_dir).verify()


def test_sigkill_at_random_moments_loses_and_corrupts_nothing(
    tmp_path: Path, settings, zygote
) -> None:
    rng = random.Random(20261121)
    corpus = Corpus(tmp_path / "folder", seed=7)
    corpus.add(30)
    encode_log = tmp_path / "encoded.log"
    log = tmp_path / "runs.log"
    argv = index_argv(settings, corpus.root)
    job = {"argv": argv, "log": str(log), "encode_log": str(encode_log), "slow": 0.03}

    assert zygote.wait(zygote.start("index", **job)) == 0, log.read_text()
    # a run over one round of changes, not killed, tells how long such a run takes
    corpus.churn()
    started = time.monotonic()
    assert zygote.wait(zygote.start("index", **job)) == 0, log.read_text()
    run_time = time.monotonic() - started
    seen = 0
    _, seen = _logged(encode_log, seen)

    killed_midway = repaired = 0
    kinds: dict[str, int] = {}
    for n in range(KILLS):
        corpus.churn()
        before = committed_hashes(settings.index_dir)
        # half the runs save index files after every commit, half only at the end
        pid = zygote.start("index", **{**job, "save_seconds": rng.choice([0.0, 30.0])})
        time.sleep(rng.uniform(0.0, run_time))
        os.kill(pid, signal.SIGKILL)  # a zombie until waited for: the pid is still its own
        status = zygote.wait(pid)
        killed_midway += status == -signal.SIGKILL
        encoded, seen = _logged(encode_log, seen)
        again = set(encoded) & before
        assert not again, f"run {n}: committed items were encoded again: {sorted(again)[:3]}"

        report = (
            _verify(settings.index_dir) if (settings.index_dir / CATALOG_NAME).exists() else None
        )
        for problem in report.problems if report else []:
            kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
        if report is not None and not report.clean and n % 2 == 0:
            # every other time, repair; else the next run must cope by itself
            Index.open(settings.index_dir).repair()
            repaired += 1
            after = _verify(settings.index_dir)
            assert after.clean, [p.message for p in after.problems]

    # most kills landed while the indexer was working, not after it was done
    assert killed_midway >= KILLS // 2, killed_midway

    before = committed_hashes(settings.index_dir)
    status = zygote.wait(zygote.start("index", **job))
    assert status == 0, log.read_text()[-3000:]
    encoded, seen = _logged(encode_log, seen)
    assert not set(encoded) & before
    final = _verify(settings.index_dir)
    assert final.clean, [p.message for p in final.problems]

    fresh = fresh_settings(settings, "fresh-index")
    fresh_job = {**job, "argv": index_argv(fresh, corpus.root), "encode_log": str(tmp_path / "x")}
    assert zygote.wait(zygote.start("index", **fresh_job)) == 0
    assert committed_hashes(settings.index_dir) == committed_hashes(fresh.index_dir)
    with Index.open(settings.index_dir) as a, Index.open(fresh.index_dir) as b:
        assert a.status().counts == b.status().counts
    texts = [p.read_text(encoding="utf-8") for p in corpus.files() if p.suffix == ".txt"]
    queries = rng.sample(texts, 12) + ["car engine road", "자동차 보험", "dog park"]
    assert_same_rankings(rankings(settings, queries, "text"), rankings(fresh, queries, "text"))
    assert_same_rankings(
        rankings(settings, ["red", "a blue circle"], "image"),
        rankings(fresh, ["red", "a blue circle"], "image"),
    )
    # what the kills left behind is only ever what a run catches up on: never a
    # file that holds other vectors, never a damaged catalog
    assert set(kinds) <= {
        "rows-without-labels",
        "labels-without-rows",
        "wrong-counts",
        "missing-source",
        "leftover-file",
    }, kinds
    print(json.dumps({"killed_midway": killed_midway, "repaired": repaired, "found": kinds}))
