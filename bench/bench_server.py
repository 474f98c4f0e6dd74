"""The web server's cost: warm search latency through HTTP against the library call,
and the time to compute the collection map (PCA, t-SNE) and the outliers.

Protocol:

* Latency: sample_corpus/ indexed with the real default models into a temporary
  folder; one `Index` serves both sides. After ``--warm`` untimed queries, each
  of the queries below is asked ``--repeat`` times by `Index.search` and by
  GET /api/search on a uvicorn server on 127.0.0.1 (urllib, one connection per
  request, as a page's fetch may be); medians and the HTTP overhead are printed.
* Map: ``--items`` synthetic unit vectors (dim 384, 40 Gaussian clusters) timed
  through `pca_2d`, `tsne_2d` (openTSNE, ``--tsne-jobs`` threads, up to ``--tsne-max`` items)
  and `nearest` (hnswlib, k=5; the outliers' cost).

    python -m bench.bench_server [--items 10000 100000] [--repeat 30]
    python -m bench.bench_server --smoke   # tiny sizes: a check, not a measurement
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUERIES = ["승용차", "walking my puppy", "취득세", "houseplant watering"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latency(repeat: int, warm: int) -> None:
    import uvicorn

    from searchengine import Index, Settings
    from searchengine.config import data_home
    from searchengine.server.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", model_cache=data_home() / "models")
        with Index.open(settings=settings) as index:
            index.add(ROOT / "sample_corpus")
            port = _free_port()
            server = uvicorn.Server(
                uvicorn.Config(create_app(index), host="127.0.0.1", port=port, log_level="warning")
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:

                def http(q: str) -> None:
                    url = f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode({"q": q})
                    with urllib.request.urlopen(url, timeout=60) as res:
                        res.read()

                def library(q: str) -> None:
                    index.search(q).to_json()

                for q in QUERIES[:warm]:
                    library(q)
                    http(q)
                times: dict[str, list[float]] = {"library": [], "HTTP": []}
                for _ in range(repeat):
                    for q in QUERIES:
                        for name, call in (("library", library), ("HTTP", http)):
                            t0 = time.perf_counter()
                            call(q)
                            times[name].append((time.perf_counter() - t0) * 1000)
            finally:
                server.should_exit = True
                thread.join(10)
    print(f"warm search latency, {len(QUERIES)} queries x {repeat}, median (p90) ms:")
    for name, values in times.items():
        p90 = float(np.percentile(values, 90))
        print(f"  {name:8} {statistics.median(values):8.2f} ({p90:.2f})")
    overhead = statistics.median(times["HTTP"]) - statistics.median(times["library"])
    print(f"  HTTP overhead of the median: {overhead:.2f} ms")


def synthetic(n: int, dim: int = 384, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    rows = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def map_times(sizes: list[int], tsne_max: int, tsne_jobs: int) -> None:
    from searchengine.explore.layout import pca_2d, tsne_2d
    from searchengine.explore.outliers import nearest

    print("map compute, seconds (synthetic vectors, dim 384):")
    print(f"  {'items':>8} {'PCA':>8} {'t-SNE':>8} {'outliers':>9}")
    for n in sizes:
        vectors = synthetic(n)
        t0 = time.perf_counter()
        pca_2d(vectors)
        pca = time.perf_counter() - t0
        tsne = "-"
        if n <= tsne_max:
            t0 = time.perf_counter()
            tsne_2d(vectors, n_jobs=tsne_jobs)
            tsne = f"{time.perf_counter() - t0:8.2f}"
        t0 = time.perf_counter()
        nearest(vectors, 5)
        knn = time.perf_counter() - t0
        print(f"  {n:8} {pca:8.3f} {tsne:>8} {knn:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--tsne-max", type=int, default=100_000)
    # one thread: on 2 cores, openTSNE with n_jobs=2 measured 9x slower (18 s vs 2 s, 1k items)
    parser.add_argument("--tsne-jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warm", type=int, default=len(QUERIES))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a check only")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.repeat, args.warm = [500, 1000], 2, 1
    print(f"machine: {os.cpu_count()} cores")
    latency(args.repeat, args.warm)
    map_times(args.items, args.tsne_max, args.tsne_jobs)


if __name__ == "__main__":
    main()
