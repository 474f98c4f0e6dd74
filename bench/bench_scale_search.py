"""Whole warm searches at scale: `Index.search` over N one-chunk files, hybrid and dense (issue 30).

bench_recall.py measures the graph walk alone at 1M; this times everything a warm search
does there: encoding the query with the real default text model, the HNSW walk (or, up to
``labels.EXACT_SCAN_MAX`` vectors, the exact scan a warm searcher does instead), the
lexical side (FTS5 BM25 over every chunk), re-scoring the pooled files' chunks, fusion,
and the page with its snippets.

* the index folder (cached in ``--cache``, one per N, reused when it is complete): a
  catalog made by the product with the real default text model (``Index.add`` of one
  small file records the ``text`` space with that model's name and fingerprint), then
  N-1 more one-chunk files written through ``Catalog.write_items``, 1,024 a call. Their
  texts are real chunks (``bench/real_chunks.py``'s plan: Debian documentation and the
  Korean texts packages install, 128 e5 tokens each), repeated in turn past the plan's
  end; their terms and term spans come from the indexer's own analysis
  (``lexical.analyse_chunks``), once per distinct text. Their vectors are
  bench_recall.py's synthetic set, drawn from a mixture fitted to real e5 vectors (the
  first ``FIT_ON`` real chunks), so that the graph walked is the one whose recall
  docs/scaling.md gives. A text and its vector are not related: the lexical and the
  dense lists are each realistic, their overlap is not, so fusion weighs two lists that
  rarely agree.
* the HNSW file is built by the product (``Store.rebuild`` from the catalog's float16
  vectors, then ``Store.save``), with the product's M and ef_construction.
* the searches: ``Index.open`` with default settings and the real encoder; ``WARM``
  queries to warm up, then ``--queries`` real labelled queries (Korean and English,
  shuffled with a fixed seed), one search at a time, each in dense and in hybrid mode:
  wall ms, split by stage (bench_tail.py's instrumentation), ``--passes`` times; the
  report gives each pass and the median of the passes, with the load and uptime at
  each, and the searcher's RSS.

    python -m bench.bench_scale_search --size 100k
    nohup nice -n 10 python -m bench.bench_scale_search --size 1M --build-only &
    python -m bench.bench_scale_search --size 1M --passes 3
    python -m bench.bench_scale_search --smoke   # 300 files, a few queries: a check

The cache: ``--cache``, else ``~/.cache/semsearch-bench/scale-search``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the other scale benchmarks
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal  # noqa: E402

import numpy as np  # noqa: E402

from bench import real_chunks  # noqa: E402
from bench.bench_recall import BLOCK, CLUSTERS, Mixture, query_texts  # noqa: E402
from bench.bench_scale import parse_count  # noqa: E402
from bench.scale_sim import machine, rss_bytes, sha  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIT_ON = 4_096  # real vectors the mixture is fitted to: what docs/scaling.md's 1M recall used
PER_CALL = 1_024  # files a write_items
WARM = 10  # searches (each mode) before the clock starts
MODES: tuple[Literal["dense"], Literal["hybrid"]] = ("dense", "hybrid")
READY = "ready.json"  # written last: the folder is complete


def default_cache() -> Path:
    return Path.home() / ".cache" / "semsearch-bench" / "scale-search"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# the data


def real_texts(smoke: bool) -> list[str]:
    """Distinct real chunk texts: the real_chunks plan, or the shipped eval corpus."""
    if smoke:
        docs = sorted((ROOT / "evalsets" / "debian-faq-ko" / "docs").glob("*.txt"))
        return [p.read_text(encoding="utf-8")[:600] for p in docs]
    plan = real_chunks.default_cache() / "plan.jsonl"
    if not plan.exists():
        raise SystemExit(f"no {plan}: run `python -m bench.real_chunks --target {FIT_ON}` first")
    seen: dict[str, None] = {}
    with open(plan, encoding="utf-8") as fh:
        for line in fh:
            seen.setdefault(json.loads(line)["text"], None)
    return list(seen)


def mixture(smoke: bool) -> Mixture:
    if smoke:  # random unit vectors: plumbing, not a fit
        rng = np.random.default_rng(1)
        real = rng.standard_normal((600, 384)).astype(np.float32)
        real /= np.linalg.norm(real, axis=1, keepdims=True)
        return Mixture.fit(real, clusters=16)
    real, _ = real_chunks.load(real_chunks.default_cache(), FIT_ON)
    if len(real) < FIT_ON:
        raise SystemExit(f"only {len(real)} real vectors: run bench.real_chunks --target {FIT_ON}")
    return Mixture.fit(real, clusters=min(CLUSTERS, FIT_ON // 20))


class Analysed:
    """Each distinct text's terms and term spans, from the indexer's analysis, made once."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._rows: dict[int, tuple[str, bytes | None]] = {}

    def row(self, i: int) -> tuple[str, str, bytes | None]:
        from searchengine.lexical import analyse_chunks
        from searchengine.records import Chunk

        j = i % len(self.texts)
        if j not in self._rows:
            text = self.texts[j]
            terms, spans = analyse_chunks([Chunk(text, 0, len(text))])
            self._rows[j] = (terms[0], spans[0])
        return (self.texts[j], *self._rows[j])


def items(analysed: Analysed, mix: Mixture, start: int, stop: int) -> Iterator[list[Any]]:
    """Files start..stop (their vectors: the synthetic set's start..stop), PER_CALL a list."""
    from searchengine.catalog import NewItem
    from searchengine.records import Chunk

    block: tuple[int, np.ndarray] = (-1, np.zeros(0))
    out: list[Any] = []
    for f in range(start, stop):
        if block[0] != f // BLOCK:
            block = (f // BLOCK, mix.block(f // BLOCK))
        text, terms, spans = analysed.row(f)
        vec = block[1][f % BLOCK][None, :]
        path = f"/scale/d{f // 1000:05d}/file{f:08d}.txt"
        size = len(text.encode("utf-8"))
        chunk = Chunk(text, 0, len(text))
        out.append(
            NewItem(
                path,
                "text",
                size,
                f,
                sha(f),
                "text",
                [chunk],
                vec,
                terms=(terms,),
                term_spans=(spans,),
            )
        )
        if len(out) == PER_CALL:
            yield out
            out = []
    if out:
        yield out


def settings_for(folder: Path) -> Any:
    from searchengine import Settings

    return replace(Settings(), index_dir=folder, word_vectors=False, scan_outliers=False)


def build_folder(
    folder: Path, n: int, texts: list[str], mix: Mixture, log: Callable[[str], None]
) -> None:
    """The index folder of n one-chunk files (see the module's docstring)."""
    from searchengine import Index
    from searchengine.store import Store

    if (folder / READY).exists():
        log(f"reusing {folder}: {(folder / READY).read_text().strip()}")
        return
    if folder.exists():
        raise SystemExit(f"{folder} is an unfinished build: remove it to start again")
    settings = replace(settings_for(folder / "index"), fsync=False)
    seed = folder / "seed"
    seed.mkdir(parents=True)
    (seed / "seed.txt").write_text(texts[0][:200], encoding="utf-8")
    with Index.open(settings=settings) as index:  # the text space, as the product records it
        index.add(seed)
    log(f"{time.strftime('%H:%M:%S')} seeded with the real text model; {uptime()}")
    analysed = Analysed(texts)
    with Store(settings.index_dir, writer=True, durable=False) as store:
        space = store.catalog.space("text")
        assert space is not None
        log(f"  text space: model {space.model}, fingerprint {space.fingerprint[:16]}...")
        wall, cpu = time.perf_counter(), time.process_time()
        for part in items(analysed, mix, 1, n):
            store.catalog.write_items(part, {"text": space.fingerprint})
            last = part[-1].mtime_ns + 1
            if last % 100_000 < PER_CALL or last == n:
                log(
                    f"  {time.strftime('%H:%M:%S')} wrote {last:,}/{n:,} files "
                    f"({time.perf_counter() - wall:.0f} s; {len(analysed._rows):,} texts analysed)"
                )
        write_s, write_cpu = time.perf_counter() - wall, time.process_time() - cpu
        log(f"{time.strftime('%H:%M:%S')} catalog written; {uptime()}")
        wall, cpu = time.perf_counter(), time.process_time()
        idx = store.rebuild(store.catalog.space("text") or space)
        store.save()
        build_s, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
        m, efc = idx.params.m, idx.params.ef_construction
    log(
        f"{time.strftime('%H:%M:%S')} HNSW built by Store.rebuild: {idx.live_count:,} vectors, "
        f"M={m}, ef_construction={efc}, {build_s:.0f} s wall, {build_cpu:.0f} CPU s; {uptime()}"
    )
    ready = {
        "files": n,
        "distinct_texts": min(n, len(texts)),
        "texts_in_plan": len(texts),
        "m": m,
        "ef_construction": efc,
        "write_s": round(write_s),
        "write_cpu_s": round(write_cpu),
        "hnsw_build_s": round(build_s),
        "hnsw_build_cpu_s": round(build_cpu),
        "index_bytes": sum(p.stat().st_size for p in (folder / "index").iterdir() if p.is_file()),
        "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    (folder / READY).write_text(json.dumps(ready) + "\n")
    log(f"ready: {json.dumps(ready)}")


# the searches


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q * 100)) if values else float("nan")


def timed_pass(index: Any, asked: list[str], stages: Any) -> list[dict[str, Any]]:
    rows = []
    for q in asked:
        for mode in MODES:
            stages.took.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            results = index.search(q, k=10, mode=mode)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append(
                {
                    "mode": mode,
                    "wall": wall * 1e3,
                    "cpu": cpu * 1e3,
                    "hits": len(results.hits),
                    "stages": {k: v * 1e3 for k, v in stages.took.items()},
                }
            )
    return rows


def summary(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    mine = [r for r in rows if r["mode"] == mode]
    walls, cpus = [r["wall"] for r in mine], [r["cpu"] for r in mine]
    stages: dict[str, list[float]] = defaultdict(list)
    for r in mine:
        for k, v in r["stages"].items():
            stages[k].append(v)
    return {
        "n": len(mine),
        "p50": pct(walls, 0.5),
        "p95": pct(walls, 0.95),
        "cpu50": pct(cpus, 0.5),
        "hits": statistics.fmean(r["hits"] for r in mine) if mine else 0.0,
        # each stage's median over the searches (0 where a search did not reach it)
        "stages": {k: pct(v + [0.0] * (len(mine) - len(v)), 0.5) for k, v in stages.items()},
    }


def stage_line(s: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(s.items(), key=lambda x: -x[1]) if v >= 0.05)


def split_lexical(stages: Any) -> None:
    """Time a hybrid search's lexical statement apart from the rest (bench_tail sums the
    lexical stage): one statement since 2026-12-07 evening, the top POOL files by BM25
    over every match and the BM25 of the dense pool's other files together (before:
    two, the second timed as "lexical: pool's files")."""
    from searchengine.catalog.search import CatalogSearch

    inner = CatalogSearch.lexical_pool

    def timed(self: Any, match: str, filters: Any, limit: int, also: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(self, match, filters, limit, also)
        finally:
            stages.took["lexical: top and pool's files"] += time.perf_counter() - started

    CatalogSearch.lexical_pool = timed  # type: ignore[method-assign]


def matched_chunks(db: Path, asked: list[str]) -> list[int]:
    """How many chunks each query's FTS5 expression matches: what BM25 ranks."""
    import sqlite3

    from searchengine.lexical import analyse_query

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = []
        for q in asked:
            expr = analyse_query(q).expression
            if expr:
                sql = "SELECT count(*) FROM chunk_terms WHERE chunk_terms MATCH ?"
                counts.append(int(con.execute(sql, (expr,)).fetchone()[0]))
        return counts
    finally:
        con.close()


def measure(
    folder: Path, asked: list[str], warm: list[str], passes: int, log: Callable[[str], None]
) -> None:
    from bench.bench_tail import instrument
    from searchengine import Index
    from searchengine.store import CATALOG_NAME

    stages = instrument()
    split_lexical(stages)
    rss0 = rss_bytes()
    started = time.perf_counter()
    with Index.open(settings=settings_for(folder / "index")) as index:
        index.search(warm[0], k=10, mode="dense")  # opens the catalog, the index, the model
        first_s = time.perf_counter() - started
        for q in warm:
            for mode in MODES:
                index.search(q, k=10, mode=mode)
        log(
            f"opened: first search {first_s:.1f} s (loading the HNSW file, the model); warmed "
            f"up with {len(warm)} queries x {len(MODES)} modes; RSS "
            f"{rss_bytes() / 2**30:.2f} GiB (+{(rss_bytes() - rss0) / 2**30:.2f})"
        )
        encoder = index._reader().spaces.text()  # what the default settings picked
        log(f"query encoder: {encoder.name} on {getattr(encoder, 'engine', '?')}")
        per_pass: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
        for p in range(1, passes + 1):
            before = uptime()
            rows = timed_pass(index, asked, stages)
            log(f"pass {p}: before: {before}")
            for mode in MODES:
                s = summary(rows, mode)
                per_pass[mode].append(s)
                log(
                    f"  {mode:>6}: {s['n']} searches, wall p50 {s['p50']:.1f} / p95 "
                    f"{s['p95']:.1f} ms (CPU p50 {s['cpu50']:.1f}), {s['hits']:.1f} hits; "
                    f"stage medians ms: {stage_line(s['stages'])}"
                )
            log(f"  after: {uptime()}")
        log(
            f"searcher RSS {rss_bytes() / 2**30:.2f} GiB, peak {rss_bytes('VmHWM') / 2**30:.2f} GiB"
        )
    sample = asked[:50]
    counts = matched_chunks(folder / "index" / CATALOG_NAME, sample)
    log(
        f"chunks an FTS5 query matches (of {len(sample)} queries): median {pct(counts, 0.5):,.0f}"
        f", p95 {pct(counts, 0.95):,.0f}, max {max(counts, default=0):,}"
    )
    log(f"median of {passes} passes ({len(asked)} queries each, one search at a time):")
    for mode in MODES:
        done = per_pass[mode]
        p50, p95 = (statistics.median(x[key] for x in done) for key in ("p50", "p95"))
        log(
            f"  {mode:>6}: wall p50 {p50:.1f} / p95 {p95:.1f} ms; the passes' p50s: "
            + ", ".join(f"{x['p50']:.1f}" for x in done)
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=parse_count, default=parse_count("100k"), help="files")
    ap.add_argument("--queries", type=int, default=200, help="timed queries a pass")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--build-only", action="store_true", help="make the folder, time nothing")
    ap.add_argument("--smoke", action="store_true", help="300 files, a few queries: a check")
    args = ap.parse_args()

    def log(line: str) -> None:
        print(line, flush=True)

    log(f"machine: {machine()}")
    log(f"uptime: {uptime()}")
    if args.smoke:
        args.size, args.queries, args.passes = 300, 4, 1
    asked = query_texts()
    random.Random(30).shuffle(asked)
    warm, asked = asked[:WARM], asked[WARM : WARM + args.queries]
    with tempfile.TemporaryDirectory(prefix="semsearch-scale-search-") as tmp:
        cache = Path(tmp) if args.smoke else (args.cache or default_cache())
        folder = cache / f"n{args.size}"
        texts = real_texts(args.smoke)
        log(f"{args.size:,} one-chunk files: {min(args.size, len(texts)):,} distinct real texts")
        build_folder(folder, args.size, texts, mixture(args.smoke), log)
        if not args.build_only:
            measure(folder, asked, warm, args.passes, log)
    log(f"uptime after: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
