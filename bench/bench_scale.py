"""Scaling, measured: hnswlib and the catalog grown with synthetic vectors, no encoding (issue 13).

Three measurements, one at a time (each is heavy; docs/scaling.md reads them):

* ``hnsw``: one index grown to each of ``--sizes`` (384-d unit vectors, the product's
  M, ef_construction and ef, inner product, ``--threads`` 1: per-core rates). At each
  size: build time, memory (RSS growth, and hnswlib's own layout), file size, the
  product's ``HnswIndex.load`` in a fresh process (seconds, memory), query latency
  p50/p95 at k=10 and at k=250 (a search's pool: POOL 50 x OVERFETCH 5), recall@10
  against brute force (of a k=10 search, and of the first 10 of a k=250 one). Then
  fits (linear in n for memory and disk, n(a + b ln n) for the build, a + b ln n for
  latency) at 10M and 100M, marked EXTRAPOLATED.
  ``--kind latent`` (default): points near a 48-d subspace, 20% of their energy as
  noise in all 384 dimensions (sentence embeddings have a low intrinsic dimension);
  ``uniform``: uniform on the sphere, a graph index's worst case.
* ``catalog``: a SQLite catalog grown through ``Catalog.write_items`` to each of
  ``--checkpoints``, a searcher's reads timed at each (scale_sim.py); ``--target URL``
  runs it on PostgreSQL; ``--real-until`` bulk-fills beyond it to save hours.
* ``pg``: 1, 2 and 4 processes writing disjoint folders into one PostgreSQL
  catalog on a private server (tests/pg_server.py).

    python -m bench.bench_scale hnsw --sizes 100k,300k,1M,2M
    python -m bench.bench_scale catalog --checkpoints 1M,2M,5M,10M --real-until 1M
    python -m bench.bench_scale pg --writers 1,2,4 --rows 20k --growth 100k
    python -m bench.bench_scale --smoke   # tiny: a check that it runs, not a measurement
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import scale_sim as sim  # (sets one BLAS thread before numpy starts its pool)
from searchengine import config
from searchengine.query.searcher import OVERFETCH, POOL

POOL_K = POOL * OVERFETCH  # the k a search asks the index for
M, EF_CONSTRUCTION, EF = (
    config.DEFAULT_HNSW_M,
    config.DEFAULT_HNSW_EF_CONSTRUCTION,
    config.DEFAULT_HNSW_EF_SEARCH,
)
GiB = 2**30


def parse_count(text: str) -> int:  # 100k, 1M, 2.5M
    text = text.strip().lower()
    return int(float(text.rstrip("km")) * {"k": 1e3, "m": 1e6}.get(text[-1], 1))


def counts(text: str) -> list[int]:
    return sorted(parse_count(x) for x in text.split(","))


# hnswlib


def latency(index: Any, queries: np.ndarray, k: int) -> tuple[float, float, np.ndarray]:
    """p50 and p95 ms (CPU time) of single queries on one thread; and the labels found."""
    took, found = [], []
    for q in queries:
        t = time.process_time()
        labels, _ = index.knn_query(q[None, :], k=k, num_threads=1)
        took.append(time.process_time() - t)
        found.append(labels[0])
    ms = np.array(took) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), np.array(found)


LOAD_PROBE = """
import json, time
from bench.scale_sim import rss_bytes
from pathlib import Path
from searchengine.store.hnsw import HnswIndex
before = rss_bytes(); t = time.process_time()
index = HnswIndex.load(Path({path!r}), {dim})
print(json.dumps({{"load_s": time.process_time() - t, "load_rss": rss_bytes() - before}}))
"""


def load_probe(path: Path, dim: int) -> dict[str, float]:
    """The product's HnswIndex.load of the saved file, in a fresh process: what a searcher pays."""
    code = LOAD_PROBE.format(path=str(path), dim=dim)
    # the repository root on the child's path, so that `bench` imports as it does here
    path_var = os.pathsep.join(filter(None, [str(sim.ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path_var}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def grow_index(
    sizes: list[int], kind: str, threads: int, n_queries: int, folder: Path, log: Any
) -> list[dict[str, Any]]:
    import hnswlib

    dim = sim.DIM
    queries = sim.vector_block(10**6, kind)[:n_queries]  # a block no size reaches
    base = sim.rss_bytes()
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=sizes[-1], M=M, ef_construction=EF_CONSTRUCTION)
    index.set_ef(EF)
    rows, done, build_s, wall_s = [], 0, 0.0, 0.0
    for size in sizes:
        for b in range(done, size, sim.BLOCK):
            block = sim.vectors(b, min(b + sim.BLOCK, size), kind)
            t, w = time.process_time(), time.perf_counter()  # CPU time: the machine is shared
            index.add_items(block, np.arange(b, b + len(block)), num_threads=threads)
            build_s, wall_s = build_s + time.process_time() - t, wall_s + time.perf_counter() - w
        rate = (size - done) / (build_s - (rows[-1]["build_s"] if rows else 0.0))
        done = size
        path = folder / "index.hnsw"
        save_s = sim.timed(lambda: index.save_index(str(path)))[1]  # noqa: B023
        row = {
            "n": size,
            "build_s": build_s,
            "build_wall_s": wall_s,
            "add_per_s": rate,
            "rss": sim.rss_bytes() - base,
            "formula": sim.formula_bytes(size, dim, M),
            "file": path.stat().st_size,
            "save_s": save_s,
            **load_probe(path, dim),
        }
        path.unlink()
        row["p50_10"], row["p95_10"], found = latency(index, queries, 10)
        row["p50_pool"], row["p95_pool"], pool = latency(index, queries, POOL_K)
        truth = sim.brute_top10(queries, size, kind)
        for key, got in (("recall10", found), ("recall_pool", pool[:, :10])):  # pool: best first
            row[key] = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(got, truth, strict=True)])
        rows.append(row)
        log(hnsw_line(row))
    return rows


HNSW_HEADER = (
    f"{'n':>10} {'build s':>8} {'adds/s':>7} {'RSS GiB':>8} {'formula':>8} {'file GiB':>8} "
    f"{'load s':>7} {'load GiB':>8} {'k=10 p50/p95 ms':>16} {f'k={POOL_K} p50/p95 ms':>17} "
    f"{'recall@10':>9} {'of k=250':>8}"
)


def hnsw_line(r: dict[str, Any]) -> str:
    return (
        f"{r['n']:>10,} {r['build_s']:>8.1f} {r['add_per_s']:>7.0f} {r['rss'] / GiB:>8.2f} "
        f"{r['formula'] / GiB:>8.2f} {r['file'] / GiB:>8.2f} {r['load_s']:>7.2f} "
        f"{r['load_rss'] / GiB:>8.2f} {r['p50_10']:>8.2f}/{r['p95_10']:<7.2f} "
        f"{r['p50_pool']:>8.2f}/{r['p95_pool']:<8.2f} {r['recall10']:>9.3f} "
        f"{r['recall_pool']:>8.3f}"
    )


def fit_and_extrapolate(
    rows: list[dict[str, Any]], targets: tuple[int, ...] = (10_000_000, 100_000_000)
) -> list[str]:
    """Least-squares fits of the measured rows, evaluated at `targets`: EXTRAPOLATED."""
    n = np.array([r["n"] for r in rows], dtype=float)

    def linear(key: str) -> tuple[float, float]:
        b, a = np.polyfit(n, [r[key] for r in rows], 1)
        return a, b

    def log_fit(ys: np.ndarray) -> tuple[float, float]:
        b, a = np.polyfit(np.log(n), ys, 1)
        return a, b

    lines = []
    for key, what in (("rss", "RSS"), ("file", "file"), ("load_rss", "loaded")):
        a, b = linear(key)
        lines.append(f"  {what:<7} = {a / GiB:+.3f} GiB + {b:.0f} B x n")
    per_add = log_fit(np.array([r["build_s"] for r in rows]) / n)  # seconds per vector
    lines.append(
        f"  build   = n x ({per_add[0] * 1e3:.3f} + {per_add[1] * 1e3:.4f} ln n) ms (1 thread)"
    )
    lat = {k: log_fit(np.array([r[k] for r in rows])) for k in ("p50_10", "p50_pool", "load_s")}
    lines.append(f"  k=10 p50 = {lat['p50_10'][0]:.3f} + {lat['p50_10'][1]:.3f} ln n ms")
    for t in targets:
        ln = math.log(t)
        a, b = linear("rss")
        fa, fb = linear("file")
        la, lb = linear("load_rss")
        build_h = t * (per_add[0] + per_add[1] * ln) / 3600
        lines.append(
            f"  EXTRAPOLATED n={t:>11,}: RSS {(a + b * t) / GiB:6.1f} GiB, "
            f"file {(fa + fb * t) / GiB:6.1f} GiB, "
            f"a loading searcher {(la + lb * t) / GiB:6.1f} GiB, build {build_h:6.1f} h on 1 core, "
            f"k=10 p50 {lat['p50_10'][0] + lat['p50_10'][1] * ln:.2f} ms, "
            f"k={POOL_K} p50 {lat['p50_pool'][0] + lat['p50_pool'][1] * ln:.2f} ms"
        )
    return lines


# concurrent writers on PostgreSQL


def _writer(url: str, index: int, rows: int, commit: int, go: Any, out: Any) -> None:
    from searchengine.lexical import index_text

    cat = sim.open_catalog(url)
    texts = sim.Texts(seed=100 + index)
    index_text(texts.make(1)[0])  # its imports and caches, before the clock starts
    out.put(None)  # ready
    go.wait()
    t = time.perf_counter()
    # disjoint folders and file numbers: writer i owns /w{i}
    took, _ = sim.write_range(cat, texts, index * rows, (index + 1) * rows, commit, f"/w{index}")
    out.put((index, time.perf_counter() - t, took))
    cat.close()


def _lock_waits(url: str, stop: Any, out: Any) -> None:
    """Sample the writers' backends every 50 ms: what each active one waits on, if anything."""
    import psycopg

    seen: dict[str, int] = {}
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        while not stop.is_set():
            for kind, event in conn.execute(
                "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE state = 'active' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall():
                key = f"{kind}:{event}" if kind else "running"
                seen[key] = seen.get(key, 0) + 1
            time.sleep(0.05)
    out.put(seen)


def pg_writers(url: str, writers: int, rows: int, commit: int) -> dict[str, Any]:
    """`writers` processes, `rows` one-chunk files each, into the (empty) catalog at `url`."""
    cat = sim.open_catalog(url)
    cat.ensure_space("text", "scale-bench", sim.FP, sim.DIM)
    cat.close()
    ctx = mp.get_context("spawn")
    go, stop, out, waits = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(url, i, rows, commit, go, out)) for i in range(writers)
    ]
    sampler = ctx.Process(target=_lock_waits, args=(url, stop, waits))
    for p in procs:
        p.start()
    sampler.start()
    for _ in procs:  # every writer connected and waiting
        out.get()
    time.sleep(0.5)  # and the sampler too
    t = time.perf_counter()
    go.set()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - t
    stop.set()
    seen = waits.get()
    for p in [*procs, sampler]:
        p.join()
    commits = [x for _, _, took in results for x in took]
    total, top = max(sum(seen.values()), 1), sorted(seen.items(), key=lambda x: -x[1])[:4]
    return {
        "writers": writers,
        "rows": writers * rows,
        "wall_s": wall,
        "rows_per_s": writers * rows / wall,
        "per_writer_rows_per_s": statistics.mean(rows / s for _, s, _ in results),
        "commit_ms_p50": statistics.median(commits) * 1e3,
        "commit_ms_p95": float(np.percentile(commits, 95)) * 1e3,
        "write_share": sum(sum(took) for _, _, took in results) / (writers * wall),
        **{f"{k}_wait_share": share(seen, k) for k in ("Lock", "LWLock")},
        "waits": ", ".join(f"{k} {v / total:.1%}" for k, v in top if k != "running"),
    }


def share(seen: dict[str, int], kind: str) -> float:
    return sum(v for k, v in seen.items() if k.startswith(kind + ":")) / max(sum(seen.values()), 1)


PG_HEADER = (
    f"{'writers':>7} {'rows':>8} {'rows/s':>7} {'per writer':>10} {'commit p50 ms':>13} "
    f"{'p95 ms':>7} {'in write_items':>14} {'Lock wait':>9} {'LWLock wait':>11}  top waits"
)


def pg_line(r: dict[str, Any]) -> str:
    return (
        f"{r['writers']:>7} {r['rows']:>8,} {r['rows_per_s']:>7.0f} "
        f"{r['per_writer_rows_per_s']:>10.0f} "
        f"{r['commit_ms_p50']:>13.1f} {r['commit_ms_p95']:>7.1f} {r['write_share']:>14.0%} "
        f"{r['Lock_wait_share']:>9.1%} {r['LWLock_wait_share']:>11.1%}  {r['waits']}"
    )


def pg_server():  # type: ignore[no-untyped-def]
    """A private PostgreSQL server (tests/pg_server.py), or None without PostgreSQL/psycopg."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    # tests/ is no package: its server helper is loaded from its file
    spec = importlib.util.spec_from_file_location("pg_server", sim.ROOT / "tests" / "pg_server.py")
    assert spec is not None and spec.loader is not None
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    PgServer, binaries = helper.PgServer, helper.binaries
    found = binaries()
    return PgServer(found).start() if found else None


def say(line: str) -> None:
    print(line, flush=True)


def run_hnsw(args: argparse.Namespace) -> None:
    say(
        f"hnswlib growth: {args.kind} 384-d unit vectors, M={M}, ef_construction={EF_CONSTRUCTION}"
        f", ef={EF}, {args.threads} thread(s), {args.queries} queries; times in CPU seconds (a "
        "shared machine)\nRSS: this process's growth; formula: hnswlib's layout; load: "
        "HnswIndex.load in a fresh process\n" + HNSW_HEADER
    )
    with tempfile.TemporaryDirectory(prefix="semsearch-scale-") as tmp:
        rows = grow_index(args.sizes, args.kind, args.threads, args.queries, Path(tmp), say)
    say("fits of the rows above, and what they say beyond them:")
    for line in fit_and_extrapolate(rows):
        say(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def run_catalog(args: argparse.Namespace) -> None:
    where = "PostgreSQL" if "://" in str(args.target) else "SQLite, durable=False (synchronous=OFF)"
    say(
        f"catalog growth ({where}): one-chunk files, ~300-byte texts, {args.commit} files a "
        "write_items; rows/s: write_items alone (text analysis + SQL)"
    )
    if args.real_until is not None:
        say(
            f"rows 1..{args.real_until:,} through write_items; beyond, bulk-filled (the same rows) "
            f"but for the last {args.window:,} before each checkpoint, which give its rows/s"
        )
    say(sim.CATALOG_HEADER)
    with tempfile.TemporaryDirectory(prefix="semsearch-scale-") as tmp:
        target = args.target or str(Path(tmp) / "catalog.db")
        rows = sim.grow_catalog(
            target, args.checkpoints, args.commit, say, args.real_until, args.window
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def run_pg(args: argparse.Namespace) -> None:
    server = pg_server()
    if server is None:
        print("pg: not run: PostgreSQL or psycopg is not installed")
        return
    try:
        try:
            sim.open_catalog(server.create_database("probe")).close()
        except Exception as exc:  # the PostgreSQL catalog is the lead's work in progress
            print(f"pg: not run: this checkout's Catalog does not open a PostgreSQL URL ({exc!r})")
            return
        print(
            "PostgreSQL writers, each its own folder of one-chunk files, one catalog; Lock and "
            "LWLock wait: share of the writers' active samples (pg_stat_activity, every 50 ms)"
        )
        print("server: fsync=off, synchronous_commit=off (tests/pg_server.py)\n" + PG_HEADER)
        for w in args.writers:
            url = server.create_database(f"writers{w}")
            rows = args.rows // w if args.split else args.rows
            say(pg_line(pg_writers(url, w, rows, args.commit)))
            server.drop_database(f"writers{w}")
        if args.growth:
            say(f"catalog growth (PostgreSQL), to compare with SQLite:\n{sim.CATALOG_HEADER}")
            sim.grow_catalog(server.create_database("growth"), args.growth, args.commit, say)
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", choices=("hnsw", "catalog", "pg"))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a check, not a measurement")
    ap.add_argument("--sizes", type=counts, default=counts("100k,300k,1M,2M"))
    ap.add_argument("--kind", choices=("latent", "uniform"), default="latent")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--checkpoints", type=counts, default=counts("1M,2M,5M,10M"))
    ap.add_argument("--target", help="catalog: a PostgreSQL URL, or a SQLite file to go on filling")
    ap.add_argument("--commit", type=int, default=256, help="files a write_items (indexer: 8x32)")
    ap.add_argument("--real-until", type=parse_count, help="catalog: bulk-fill beyond this")
    ap.add_argument("--window", type=parse_count, default=100_000, help="...but this many")
    ap.add_argument("--writers", type=counts, default=counts("1,2,4"))
    ap.add_argument("--rows", type=parse_count, default=parse_count("100k"), help="rows per writer")
    ap.add_argument("--split", action="store_true", help="--rows in total, not per writer")
    ap.add_argument("--growth", type=counts, default=[], help="pg: also grow one catalog to these")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    print(f"machine: {sim.machine()}")
    if args.smoke:
        args.sizes, args.queries, args.checkpoints = [2_000, 4_000], 20, [1_000, 3_000]
        args.real_until, args.window = 1_000, 500
        args.writers, args.rows, args.growth = [2], 100, [300]
        run_hnsw(args)
        run_catalog(args)
        run_pg(args)
        return 0
    if args.what is None:
        ap.error("say which: hnsw, catalog or pg (or --smoke)")
    {"hnsw": run_hnsw, "catalog": run_catalog, "pg": run_pg}[args.what](args)
    print(f"machine after: {sim.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
