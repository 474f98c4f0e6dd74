"""A one-shot `semsearch search`, timed as whole processes (issue 15: <= 2.5 s).

Protocol:

* ``sample_corpus/`` is indexed once into a temporary index folder, with the
  models from the user's data folder (as `make demo` leaves it).
* One warm-up search, so the operating system holds the files, as after any
  earlier search; then ``--runs`` whole-process searches per query, the queries
  taking turns (an English and a Korean one by default: a Korean query also
  loads kiwi, in a helper process). Wall time from start to exit, median and
  range, and the machine's load before and after.
* The children run without PYTHONDONTWRITEBYTECODE, as on a user's machine:
  with it set, Python compiles the project's modules from source every run.

    python -m bench.bench_cold_start [--runs 7] [--json] [--query TEXT ...]
    python -m bench.bench_cold_start --smoke   # a check that it runs, not a measurement
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["used car prices", "승용차를 사려면"]


def semsearch(index: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "searchengine", "--index", str(index), *args]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{(done.stderr or done.stdout)[-800:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--query", nargs="+", default=QUERIES)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="one run, one small file")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    tmp = Path(tempfile.mkdtemp(prefix="semsearch-cold-"))
    try:
        corpus = ROOT / "sample_corpus"
        if args.smoke:
            args.runs, corpus = 1, tmp / "corpus"
            corpus.mkdir()
            (corpus / "car.txt").write_text("자동차 구입 가이드: 예산과 보험", encoding="utf-8")
        index = tmp / "index"
        timed(semsearch(index, "index", str(corpus)), env)
        load_before = os.getloadavg()[0]
        timed(semsearch(index, "search", args.query[0]), env)  # warm-up
        took: dict[str, list[float]] = {q: [] for q in args.query}
        for _ in range(args.runs):
            for query in args.query:
                took[query].append(timed(semsearch(index, "search", query), env))
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cpus, "
        f"load {load_before:.1f} before, {load_after:.1f} after"
    )
    rows = {
        q: {
            "median_s": round(statistics.median(t), 2),
            "min_s": round(min(t), 2),
            "max_s": round(max(t), 2),
        }
        for q, t in took.items()
    }
    if args.json:
        print(json.dumps({"machine": machine, "runs": args.runs, "queries": rows}, indent=2))
        return 0
    print(f"machine: {machine}")
    print(f"one-shot `semsearch search QUERY`, whole processes, {args.runs} runs each:")
    for query, r in rows.items():
        spread = f"min {r['min_s']:.2f}, max {r['max_s']:.2f}"
        print(f"  {query!r:24} median {r['median_s']:.2f} s  ({spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
