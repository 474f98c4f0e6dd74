"""The tail of warm search latency: where the slowest one in twenty spends its time (issue 30).

Indexes the chunks `compare_peers` uses (both eval corpora cut at 128 tokens, one file per
chunk; ``--index DIR`` reuses an index), then runs the labelled queries (shuffled, seeded)
one at a time, dense and hybrid, after a warm-up, as a long-lived searcher would. Each
search is timed (wall and CPU of this process) and split into its stages by wrapping the
searcher's methods: encoding the query, analysing it, the dense pool, the lexical
matches, scoring, and the page (catalog lookups, snippets: ``make_hit``); garbage
collections during it are recorded (``gc.callbacks``). The report sets the slowest 5%
beside the fastest half, stage by stage, and names the queries whose snippets cost most.

    python -m bench.bench_tail [--queries 200] [--index DIR]
    python -m bench.bench_tail --smoke   # a few chunks and queries: a check
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QRELS = ("debian-faq-ko/qrels.tsv", "debian-faq-ko/qrels-en.tsv", "python-faq-en/qrels.tsv")
MODES = ("dense", "hybrid")


class Stages:
    """Seconds per stage of the search running now, from wrapped methods."""

    def __init__(self) -> None:
        self.took: dict[str, float] = defaultdict(float)
        self.collections: list[tuple[int, float]] = []
        self._gc_started = 0.0

    def wrap(self, owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)
        took = self.took

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                took[label] += time.perf_counter() - started

        setattr(owner, name, timed)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections.append((info["generation"], time.perf_counter() - self._gc_started))


def instrument() -> Stages:
    from searchengine.catalog import search as catalog_search
    from searchengine.catalog import tags
    from searchengine.models.text_encoder import TextEncoder
    from searchengine.query import searcher

    stages = Stages()
    for name in ("_dense_files", "_score_dense", "_page"):
        stages.wrap(searcher.Searcher, name, name.strip("_"))
    stages.wrap(TextEncoder, "encode", "encode")
    stages.wrap(searcher.lexical, "analyse_query", "analyse_query")
    stages.wrap(searcher, "make_hit", "make_hit (snippets)")
    for cls in vars(catalog_search).values():
        # a search calls lexical_pool; with expansion also lexical_matches, which calls
        # lexical_pool again: that time is counted twice (this benchmark does not expand)
        for name in ("lexical_matches", "lexical_pool"):
            if isinstance(cls, type) and name in vars(cls):
                stages.wrap(cls, name, "lexical_matches")
    for cls in (*vars(catalog_search).values(), *vars(tags).values()):
        if isinstance(cls, type):
            for name in ("chunk_info", "tags_of"):
                if name in vars(cls):
                    stages.wrap(cls, name, name)
    gc.callbacks.append(stages.on_gc)
    return stages


def queries(n: int) -> list[str]:
    out: list[str] = []
    for q in QRELS:
        lines = (ROOT / "evalsets" / q).read_text(encoding="utf-8").splitlines()[1:]
        out += [line.split("\t")[0] for line in lines if line.strip()]
    random.Random(1).shuffle(out)
    return out[:n]


def build(index_dir: Path, n_chunks: int | None, log: Callable[[str], None], real: int = 0) -> None:
    from bench.compare_peers import CHUNK_TOKENS, make_chunks
    from searchengine import Index, Settings

    settings = Settings(index_dir=index_dir, chunk_tokens=CHUNK_TOKENS, word_vectors=False)
    chunks, _ = make_chunks(real or n_chunks, settings.model_cache, bool(real))
    corpus = index_dir.parent / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(chunks):
        (corpus / f"chunk-{i:05d}.txt").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with Index.open(settings=settings) as index:
        index.add(corpus)
    log(f"indexed {len(chunks)} chunks in {time.perf_counter() - started:.0f} s")


def measure(index_dir: Path, asked: list[str], warm: int) -> tuple[list[dict[str, Any]], Stages]:
    from searchengine import Index, Settings

    stages = instrument()
    rows: list[dict[str, Any]] = []
    with Index.open(settings=Settings(index_dir=index_dir, encode_threads=1)) as index:
        for q in asked[:warm]:
            for mode in MODES:
                index.search(q, k=10, mode=mode)  # type: ignore[arg-type]
        for q in asked[warm:]:
            for mode in MODES:
                stages.took.clear()
                before = len(stages.collections)
                wall, cpu = time.perf_counter(), time.process_time()
                index.search(q, k=10, mode=mode)  # type: ignore[arg-type]
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rows.append(
                    {
                        "query": q,
                        "mode": mode,
                        "wall": wall * 1e3,
                        "cpu": cpu * 1e3,
                        "stages": {k: v * 1e3 for k, v in stages.took.items()},
                        "gc": stages.collections[before:],
                    }
                )
    return rows, stages


def report(rows: list[dict[str, Any]], log: Callable[[str], None]) -> None:
    for mode in MODES:
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["wall"])
        if not mine:
            continue
        walls = [r["wall"] for r in mine]
        cpus = sorted(r["cpu"] for r in mine)

        def pct(values: list[float], q: float) -> float:
            return values[min(len(values) - 1, round(q * (len(values) - 1)))]

        log(
            f"{mode}: {len(mine)} searches, wall p50 {pct(walls, 0.5):.1f} / p95 "
            f"{pct(walls, 0.95):.1f} ms, CPU p50 {pct(cpus, 0.5):.1f} / p95 "
            f"{pct(cpus, 0.95):.1f} ms"
        )
        groups = {
            "slowest 5%": mine[int(0.95 * len(mine)) :],
            "fastest half": mine[: len(mine) // 2],
        }
        for label, group in groups.items():
            if not group:
                continue
            stages: dict[str, float] = defaultdict(float)
            for r in group:
                for k, v in r["stages"].items():
                    stages[k] += v / len(group)
            full = sum(1 for r in group if any(g == 2 for g, _ in r["gc"])) / len(group)
            gc_ms = statistics.fmean(sum(d for _, d in r["gc"]) * 1e3 for r in group)
            log(
                f"  {label:>12}: wall {statistics.fmean(r['wall'] for r in group):.1f} ms, "
                f"gc {gc_ms:.1f} ms (a full collection in {full:.0%}); "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(stages.items()))
            )
    costly = sorted(rows, key=lambda r: -r["stages"].get("make_hit (snippets)", 0.0))[:5]
    log("costliest snippets (ms, query):")
    for r in costly:
        log(f"  {r['stages'].get('make_hit (snippets)', 0.0):7.1f}  {r['query'][:70]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--index", type=Path, help="an index built by this script before")
    ap.add_argument("--smoke", action="store_true", help="a few chunks and queries")
    ap.add_argument(
        "--real", type=int, default=0, help="index N real chunks (compare_peers --real's)"
    )
    args = ap.parse_args()

    def log(line: str) -> None:
        print(line, flush=True)

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    log(f"machine: {os.cpu_count()} cpus, load {load}: wall times are as noisy as that")
    n_queries, warm = (6, 2) if args.smoke else (args.queries, 10)
    with tempfile.TemporaryDirectory(prefix="semsearch-tail-") as tmp:
        index_dir = args.index or Path(tmp) / "index"
        if not index_dir.is_dir():
            build(index_dir, 24 if args.smoke else None, log, args.real)
        rows, _ = measure(index_dir, queries(n_queries + warm), warm)
    report(rows, log)
    log(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
