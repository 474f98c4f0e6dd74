"""A one-shot `semsearch search`, timed as whole processes (issue 15: <= 2.5 s; issue 26:
a picture as the query within 2.5x a text query).

Protocol:

* ``sample_corpus/`` is indexed once into a temporary index folder, with the
  models from the user's data folder (as `make demo` leaves it).
* One warm-up search, so the operating system holds the files, as after any
  earlier search; then ``--runs`` whole-process searches per query, the queries
  taking turns (an English and a Korean one by default: a Korean query also
  loads kiwi, in a helper process), and ``search --image`` with a picture.
  Wall time from start to exit, median and range, the picture's median over
  each text query's median, and the machine's load before and after.
* ``--tree DIR`` (repeatable) runs the same searches with another source tree
  (say a ``git worktree`` of an earlier commit) on its own index of the same
  corpus, interleaved with this one's, so a before/after pair shares the
  machine's load.
* The children run without PYTHONDONTWRITEBYTECODE, as on a user's machine:
  with it set, Python compiles the project's modules from source every run.

    python -m bench.bench_cold_start [--runs 7] [--json] [--query TEXT ...] [--image PNG]
        [--tree DIR ...]
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["used car prices", "승용차를 사려면"]
IMAGE = ROOT / "tests" / "data" / "query_images" / "car_query_skoda.png"


def semsearch(index: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "searchengine", "--index", str(index), *args]


def timed(cmd: list[str], env: dict[str, str], tree: Path = ROOT) -> float:
    """Seconds a whole process takes; `-m` runs the package of `tree`, its working folder."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{(done.stderr or done.stdout)[-800:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--query", nargs="+", default=QUERIES)
    ap.add_argument("--image", type=Path, default=IMAGE, help="the picture query")
    ap.add_argument("--tree", type=Path, action="append", default=[], help="another source tree")
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
            from PIL import Image

            Image.new("RGB", (40, 30), (200, 30, 30)).save(corpus / "red.png")
        trees = [ROOT, *(t.resolve() for t in args.tree)]
        # each tree indexes the corpus itself: an older one may not open a newer catalog
        indexes = {tree: tmp / f"index{n}" for n, tree in enumerate(trees)}
        for tree, index in indexes.items():
            timed(semsearch(index, "index", str(corpus)), env, tree)
        searches: dict[str, tuple[str, ...]] = {q: ("search", q) for q in args.query}
        picture = "--image " + args.image.name
        searches[picture] = ("search", "--image", str(args.image.resolve()))
        load_before = os.getloadavg()[0]
        for tree in trees:  # warm-up: the operating system holds the files
            for search in searches.values():
                timed(semsearch(indexes[tree], *search), env, tree)
        took: dict[tuple[Path, str], list[float]] = {(t, q): [] for t in trees for q in searches}
        for _ in range(args.runs):
            for tree in trees:
                for name, search in searches.items():
                    took[(tree, name)].append(timed(semsearch(indexes[tree], *search), env, tree))
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cpus, "
        f"load {load_before:.1f} before, {load_after:.1f} after"
    )
    report: dict[str, dict[str, Any]] = {}
    for tree in trees:
        rows = {
            q: {
                "median_s": round(statistics.median(took[(tree, q)]), 2),
                "min_s": round(min(took[(tree, q)]), 2),
                "max_s": round(max(took[(tree, q)]), 2),
            }
            for q in searches
        }
        image = statistics.median(took[(tree, picture)])
        over = {q: round(image / statistics.median(took[(tree, q)]), 2) for q in args.query}
        report[str(tree)] = {"queries": rows, "image_over_text": over}
    if args.json:
        print(json.dumps({"machine": machine, "runs": args.runs, "trees": report}, indent=2))
        return 0
    print(f"machine: {machine}")
    print(f"one-shot `semsearch search QUERY`, whole processes, {args.runs} runs each:")
    for tree, result in report.items():
        if len(report) > 1:
            print(f"{tree} ({_commit(Path(tree))}):")
        for query, r in result["queries"].items():
            spread = f"min {r['min_s']:.2f}, max {r['max_s']:.2f}"
            print(f"  {query!r:32} median {r['median_s']:.2f} s  ({spread})")
        ratios = ", ".join(f"{r:.2f}x {q!r}" for q, r in result["image_over_text"].items())
        print(f"  picture query's median over each text query's: {ratios}")
    return 0


def _commit(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h"], capture_output=True, text=True
    )
    return done.stdout.strip() or "not a git tree"


if __name__ == "__main__":
    sys.exit(main())
