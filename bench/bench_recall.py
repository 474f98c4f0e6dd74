"""Recall at scale: the product's dense search against exact search, on real e5 vectors and on
synthetic ones fitted to them (issue 30).

* base vectors: real chunks (``bench/real_chunks.py``'s cache: Debian documentation and
  Korean package texts, e5-small passages) at ``--real`` sizes; and, at ``--synthetic``
  sizes, vectors drawn from a mixture fitted to the real ones: k-means clusters (weights,
  centres, spreads) around one covariance shared by all clusters (fitted to the
  vectors' distances from their centres), normalised as e5's are. At the
  largest real size the synthetic set is drawn too, so its recall can be set beside the
  real one's: where they agree, the fit is a fair stand-in at 1M.
* queries: every labelled query of the shipped sets (Korean and English), encoded as
  the product encodes a query (``query: `` prefix, fp32).
* the index: hnswlib with the product's M and ef_construction (searchengine/config.py), or
  those of ``--m`` and ``--ef-construction``, built once per set, size and graph and cached
  beside the vectors (``index_path``).
* the product's search: a search asks the index for ``POOL x OVERFETCH`` = 250 chunks and
  scores every chunk of their files exactly; so recall@10 here is the share of the exact
  top 10 chunks among the first 10 that the index returns for k=250. It is measured for
  the ef the product picks at that size (``HnswParams.ef_for``; what a one-shot search
  uses) and for a sweep of ef, with the latency of one query (CPU time, one thread: the
  machine is shared). A warm searcher keeps the vectors and, up to
  ``labels.EXACT_SCAN_MAX``, scans them all instead: exact, its cost printed too.

    python -m bench.bench_recall --real 10k,100k --synthetic 100k,1M
    python -m bench.bench_recall --smoke   # a few thousand synthetic vectors: a check
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # per-core figures: one BLAS thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench import real_chunks  # noqa: E402
from bench.bench_scale import counts  # noqa: E402
from bench.scale_sim import machine  # noqa: E402
from searchengine import config  # noqa: E402
from searchengine.query.labels import EXACT_SCAN_MAX  # noqa: E402
from searchengine.query.searcher import OVERFETCH, POOL  # noqa: E402
from searchengine.store.hnsw import DEFAULT_PARAMS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POOL_K = POOL * OVERFETCH  # what a search asks the index for
QRELS = [
    ROOT / "evalsets" / "debian-faq-ko" / "qrels.tsv",
    ROOT / "evalsets" / "debian-faq-ko" / "qrels-en.tsv",
    ROOT / "evalsets" / "python-faq-en" / "qrels.tsv",
    ROOT / "evalsets" / "office-ko" / "qrels.tsv",
]
CLUSTERS = 512
BLOCK = 10_000
EFS = (10, 20, 40, 250, 400, 600, 800, 1200)  # below POOL_K: a k=10 search, a harder probe


def query_texts() -> list[str]:
    seen: dict[str, None] = {}
    for q in QRELS:
        for line in q.read_text(encoding="utf-8").splitlines()[1:]:
            if line.strip():
                seen.setdefault(line.split("\t")[0].strip(), None)
    return list(seen)


def query_vectors(cache: Path) -> np.ndarray:
    """The labelled queries' vectors, as a search encodes them (cached)."""
    path = cache / "queries.npy"
    if not path.exists():
        from searchengine.config import Settings
        from searchengine.models.presets import resolve_text_model
        from searchengine.models.text_encoder import TextEncoder

        source = resolve_text_model("e5-small", Settings().model_cache)
        enc = TextEncoder(source, engine="torch", precision="fp32")
        vectors = np.vstack([enc.encode([t], "query") for t in query_texts()])
        np.save(path, vectors.astype(np.float32))
    return np.load(path)


@dataclass(frozen=True)
class Mixture:
    """Clusters of the real vectors (weights, centres, spreads) around one shared shape of
    spread: a Gaussian mixture with a tied covariance, which a few thousand vectors fit
    well in 384 dimensions where a covariance per cluster would not."""

    weights: np.ndarray  # (C,)
    centres: np.ndarray  # (C, d)
    spread: np.ndarray  # (d, d): the tied covariance's square root
    scales: np.ndarray  # (C,): each cluster's spread against the tied one

    @classmethod
    def fit(cls, real: np.ndarray, clusters: int = CLUSTERS) -> Mixture:
        rng = np.random.default_rng(0)
        centres = real[rng.choice(len(real), clusters, replace=False)].copy()
        for _ in range(15):  # spherical k-means: the vectors are unit length
            assign = np.argmax(real @ centres.T, axis=1)
            for c in range(clusters):
                members = real[assign == c]
                if len(members):
                    centres[c] = members.mean(0)
        assign = np.argmax(real @ centres.T, axis=1)
        for c in range(clusters):  # the centres of the final assignment
            members = real[assign == c]
            if len(members):
                centres[c] = members.mean(0)
        resid = real - centres[assign]
        cov = resid.T @ resid / len(real)
        values, vectors = np.linalg.eigh(cov)
        spread = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        energy = np.sum(resid**2, axis=1)
        sizes = np.bincount(assign, minlength=clusters)
        per = np.bincount(assign, weights=energy, minlength=clusters) / np.maximum(sizes, 1)
        scales = np.sqrt(np.where(sizes > 1, per, energy.mean()) / energy.mean())
        weights = sizes / sizes.sum()
        return cls(weights, centres.astype(np.float32), spread.astype(np.float32), scales)

    def block(self, b: int, n: int = BLOCK) -> np.ndarray:
        """Block `b` of the synthetic set: n unit vectors, always the same."""
        rng = np.random.default_rng([30, b])
        which = rng.choice(len(self.weights), size=n, p=self.weights)
        z = rng.standard_normal((n, self.spread.shape[0])).astype(np.float32)
        out = self.centres[which] + (z @ self.spread) * self.scales[which, None].astype(np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out.astype(np.float32)


def blocks(source: Callable[[int], np.ndarray], n: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, n, BLOCK):
        yield start, source(start // BLOCK)[: n - start]


def exact_top10(queries: np.ndarray, parts: Iterator[tuple[int, np.ndarray]]) -> np.ndarray:
    best_s = np.full((len(queries), 10), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 10), np.int64)
    for start, x in parts:
        s = queries @ x.T
        j = np.argpartition(-s, min(10, s.shape[1] - 1), axis=1)[:, :10]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, j, 1)], 1)
        cand_i = np.concatenate([best_i, j + start], 1)
        keep = np.argsort(-cand_s, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_i, keep, 1)
    return best_i


def index_path(folder: Path, name: str, n: int, m: int, ef_construction: int) -> Path:
    """Where the index of this set, size and graph is cached: the graph of M=16,
    ef_construction=200 (the first one measured) keeps its plain name, others name theirs."""
    if (m, ef_construction) == (16, 200):
        return folder / f"{name}-{n}.hnsw"
    return folder / f"{name}-{n}-m{m}-efc{ef_construction}.hnsw"


def rss_mib() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def build(
    parts: Iterator[tuple[int, np.ndarray]],
    n: int,
    dim: int,
    path: Path,
    threads: int,
    log: Any,
    m: int,
    ef_construction: int,
) -> Any:
    """An index of this M and ef_construction over the parts (cached in `path`); logs the
    build's wall and CPU seconds, the file's size and what loading it adds to the RSS."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=dim)
    if path.exists():
        before = rss_mib()
        index.load_index(str(path), max_elements=n)
        if (index.M, index.ef_construction) != (m, ef_construction):
            raise SystemExit(f"{path} holds M={index.M}, ef_construction={index.ef_construction}")
        log(
            f"    loaded {path.name}: M={m}, ef_construction={ef_construction}, "
            f"file {path.stat().st_size / 2**20:,.0f} MiB, RSS +{rss_mib() - before:,.0f} MiB"
        )
        return index
    index.init_index(max_elements=n, M=m, ef_construction=ef_construction)
    started, cpu = time.perf_counter(), time.process_time()
    for start, x in parts:
        index.add_items(x, np.arange(start, start + len(x)), num_threads=threads)
        if (start // BLOCK) % 10 == 9:
            log(f"    built {start + len(x):,}/{n:,} ({time.perf_counter() - started:.0f} s)")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    tmp = path.with_name(path.name + ".tmp")
    index.save_index(str(tmp))
    os.replace(tmp, path)
    log(
        f"    built {n:,} with M={m}, ef_construction={ef_construction} in {wall:.0f} s wall, "
        f"{cpu:.0f} CPU s ({threads} threads, {cpu / n * 1e3:.2f} CPU ms a vector); "
        f"file {path.stat().st_size / 2**20:,.0f} MiB"
    )
    return index


def measure(index: Any, queries: np.ndarray, truth: np.ndarray, ef: int) -> dict[str, float]:
    """recall@10 of the first 10 of a k=POOL_K search at this ef (below POOL_K: of a k=10
    search, which tells how hard a set is where the product's search finds everything);
    latency of one query."""
    index.set_ef(ef)
    k = POOL_K if ef >= POOL_K else 10
    took, hits = [], 0
    for q, t in zip(queries, truth, strict=True):
        c = time.process_time()
        labels, _ = index.knn_query(q[None, :], k=k, num_threads=1)
        took.append(time.process_time() - c)
        hits += len(set(labels[0][:10].tolist()) & set(t.tolist()))
    ms = np.array(took) * 1e3
    return {
        "k": k,
        "recall": hits / truth.size,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
    }


def exact_scan(
    source: Callable[[int], np.ndarray], n: int, queries: np.ndarray
) -> dict[str, float]:
    """What a warm searcher does at this size instead (query/labels.py): every kept vector
    scored, the best POOL_K taken; CPU ms of one query on one thread."""
    x = np.concatenate([b for _, b in blocks(source, n)])
    took = []
    for q in queries:
        c = time.process_time()
        s = x @ q
        np.argpartition(-s, POOL_K)[:POOL_K]
        took.append(time.process_time() - c)
    ms = np.array(took) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))}


def run_set(
    name: str,
    source: Callable[[int], np.ndarray],
    n: int,
    queries: np.ndarray,
    folder: Path,
    threads: int,
    efs: tuple[int, ...],
    log: Any,
    m: int,
    ef_construction: int,
) -> list[dict[str, Any]]:
    truth = exact_top10(queries, blocks(source, n))
    if n <= EXACT_SCAN_MAX:
        scan = exact_scan(source, n, queries)
        log(
            f"{name:>9} {n:>10,}  a warm searcher scans all {n:,} exactly (recall 1): "
            f"{scan['p50']:.2f} / {scan['p95']:.2f} ms"
        )
    path = index_path(folder, name, n, m, ef_construction)
    index = build(blocks(source, n), n, queries.shape[1], path, threads, log, m, ef_construction)
    product_ef = max(DEFAULT_PARAMS.ef_for(n), POOL_K)
    rows = []
    for ef in sorted({*efs, product_ef}):
        got = measure(index, queries, truth, ef)
        row = {"set": name, "n": n, "ef": ef, "product": ef == product_ef, **got}
        rows.append(row)
        mark = "  <- the product's ef at this size" if row["product"] else ""
        log(
            f"{name:>9} {n:>10,} {row['k']:>4} {ef:>6} {row['recall']:>9.4f} "
            f"{row['p50']:>8.2f} {row['p95']:>8.2f}{mark}"
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", default="10k,100k", help="sizes of the real set (what is cached)")
    ap.add_argument("--synthetic", default="100k,1M", help="sizes of the fitted synthetic set")
    ap.add_argument("--efs", default=",".join(map(str, EFS)))
    ap.add_argument("--threads", type=int, default=2, help="threads building an index")
    ap.add_argument("--m", type=int, default=config.DEFAULT_HNSW_M, help="the graph's M")
    ap.add_argument("--ef-construction", type=int, default=config.DEFAULT_HNSW_EF_CONSTRUCTION)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()

    def log(line: str) -> None:
        print(line, flush=True)

    log(f"machine: {machine()}")
    efs = tuple(int(x) for x in args.efs.split(","))
    if args.smoke:
        rng = np.random.default_rng(1)
        real = rng.standard_normal((3000, 384)).astype(np.float32)
        real /= np.linalg.norm(real, axis=1, keepdims=True)
        queries = real[:20] + 0.1 * rng.standard_normal((20, 384)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        real_sizes, synth_sizes, clusters = [2000], [4000], 16
    else:
        folder = args.cache or real_chunks.default_cache()
        real, _ = real_chunks.load(folder)
        queries = query_vectors(folder)
        real_sizes = [n for n in counts(args.real) if n <= len(real)]
        if len(real_sizes) < len(counts(args.real)):
            real_sizes.append(len(real))  # as far as the encoding got
            log(f"only {len(real):,} real vectors are encoded: the largest real size used is that")
        synth_sizes, clusters = counts(args.synthetic), CLUSTERS
    graph = (args.m, args.ef_construction)
    log(f"{len(real):,} real vectors, {len(queries)} queries; a search asks for k={POOL_K}")
    log(f"graphs of M={args.m}, ef_construction={args.ef_construction}")
    with tempfile.TemporaryDirectory(prefix="semsearch-recall-") as tmp:
        out = Path(tmp) if args.smoke else (args.cache or real_chunks.default_cache())
        t = time.perf_counter()
        fit_on = real[: max(real_sizes)]
        mixture = Mixture.fit(fit_on, clusters=min(clusters, len(fit_on) // 20))
        took = time.perf_counter() - t
        log(f"fitted {len(mixture.weights)} clusters to {len(fit_on):,} vectors, {took:.0f} s")
        log(f"{'set':>9} {'vectors':>10} {'k':>4} {'ef':>6} {'recall@10':>9} {'p50/p95 ms':>17}")

        def real_block(b: int) -> np.ndarray:
            return real[b * BLOCK : (b + 1) * BLOCK]

        rows = []
        for n in real_sizes:
            rows += run_set("real", real_block, n, queries, out, args.threads, efs, log, *graph)
        for n in synth_sizes:
            name = f"fitted{len(fit_on) // 1000}k"
            rows += run_set(name, mixture.block, n, queries, out, args.threads, efs, log, *graph)
    worst = min(r["recall"] for r in rows if r["product"])
    verdict = "holds" if worst >= 0.98 else "is below"
    log(f"worst recall@10 at the product's ef: {worst:.4f}: {verdict} 0.98")
    return 0


if __name__ == "__main__":
    sys.exit(main())
