"""The dense lookup alone: a search by meaning with the query's encoding taken out.

Protocol:

* For each size in ``--sizes`` (default 1,200 and 100,000 vectors of 384
  dimensions, e5-small's), random unit vectors in files of ``--chunks-per-file``
  (10) chunks are written the way the indexer writes them (``Catalog.write_items``
  and ``Store.apply`` in commits of 500 files, one ``Store.save``).
* The index is opened through ``searchengine.Index`` with a text encoder that
  returns a random unit vector (seeded by the text) in microseconds, so a
  timed ``Index.search(q, mode="dense", k=10)`` is the lookup: the HNSW search
  of the pool, the owners of its labels, every chunk vector of the pooled files
  scored exactly, the good-match z-scores, and the page of hits.
* ``--queries`` (200) distinct queries are timed after two warm-up searches (a
  process that searches twice keeps the vectors in memory); the first search
  of the process, which reads its pool's vectors from the catalog by label,
  is printed apart.

    python -m bench.bench_lookup [--json] [--sizes 1200 100000] [--queries 200]
    python -m bench.bench_lookup --smoke   # tiny: a check that it runs, not a measurement
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class RandomText:
    """A stand-in text model: a random unit vector per text, the same for the same text."""

    name = "bench-random"
    max_tokens = 128

    def __init__(self, dim: int):
        self.dim = dim
        self.fingerprint = f"bench-random-{dim}"

    def prefix_tokens(self, role: str) -> int:
        return 0

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]

    def encode(self, texts: Sequence[str], role: str = "passage") -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


def build(folder: Path, n: int, dim: int, per_file: int) -> None:
    from searchengine.catalog import NewItem, as_stored
    from searchengine.records import Chunk
    from searchengine.store import Store

    v = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    vectors = as_stored(v / np.linalg.norm(v, axis=1, keepdims=True))
    with Store(folder, writer=True, durable=False) as store:
        fingerprint = RandomText(dim).fingerprint
        store.catalog.ensure_space("text", RandomText.name, fingerprint, dim)
        starts = range(0, n, per_file)
        for at in range(0, len(starts), 500):
            items = []
            for f in starts[at : at + 500]:
                part = vectors[f : f + per_file]
                chunks = [Chunk(f"passage {f + i} of file {f}", 0, 8) for i in range(len(part))]
                items.append(NewItem(f"/bench/{f}.txt", "text", 1, 1, str(f), "text", chunks, part))
            added, removed = store.catalog.write_items(items, {"text": fingerprint})
            space = store.catalog.space("text")
            assert space is not None
            batch = np.concatenate([it.vectors for it in items])
            store.apply(space, added["text"], batch, removed.get("text", []))
        store.save()


def measure(folder: Path, dim: int, queries: int) -> dict[str, Any]:
    from searchengine import Encoders, Index, Settings

    # the model cache is the bench's own: the reference background of a stand-in model
    # must not land in the user's
    settings = Settings(index_dir=folder, model_cache=folder / "models", word_vectors=False)
    encoders = Encoders(text=RandomText(dim))  # type: ignore[arg-type]
    with Index.open(settings=settings, encoders=encoders) as index:
        started = time.perf_counter()
        index.search("first query of the process", mode="dense")
        first_ms = (time.perf_counter() - started) * 1000
        index.search("warm-up", mode="dense")
        took = []
        for i in range(queries):
            started = time.perf_counter()
            index.search(f"query {i}", mode="dense")
            took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {
        "first_ms": round(first_ms, 2),
        "p50_ms": round(statistics.median(took), 3),
        "p95_ms": round(took[int(0.95 * (len(took) - 1))], 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_200, 100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--chunks-per-file", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a check, not a measurement")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.dim, args.queries = [300], 32, 10
    load_before = os.getloadavg()[0]
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="semsearch-lookup-"))
    try:
        for n in args.sizes:
            folder = tmp / str(n)
            started = time.perf_counter()
            build(folder, n, args.dim, args.chunks_per_file)
            row = {"vectors": n, "build_s": round(time.perf_counter() - started, 1)}
            row.update(measure(folder, args.dim, args.queries))
            results.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cpus, "
        f"load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return 0
    print(f"machine: {machine}")
    print(f"dense lookup (query encoding excluded), k=10, {args.queries} queries:")
    print("  vectors      p50 ms    p95 ms   first search ms")
    for r in results:
        print(f"  {r['vectors']:>7}  {r['p50_ms']:9.3f} {r['p95_ms']:9.3f} {r['first_ms']:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
