"""What the catalog costs on top of hnswlib: folder size and bulk-insert time at 100k vectors.

Protocol:

* ``--vectors`` (default 100,000) random unit vectors of ``--dim`` (384, e5-small's)
  dimensions, in files of ``--chunks-per-file`` (10) chunks with a short text each,
  so the rows are what an indexing run writes, without the text of real documents.
* semsearch: a writer ``Store`` (durable: SQLite synchronous=FULL, fsync of the
  index file) takes them the way the indexer does, ``--batch`` (500) files per
  commit: ``Catalog.write_items`` then ``Store.apply``, then one ``Store.save``.
  The folder's size is every file in it (catalog, its WAL if any, the index).
* bare hnswlib: the same vectors and labels in one ``add_items`` call, with the
  same M and ef_construction, then ``save_index``.
* Printed: seconds, sizes and the ratios semsearch / bare. Each side runs
  ``--repeat`` times in turn (the median counts), in fresh folders.

    python -m bench.bench_storage [--json] [--vectors 100000] [--repeat 3]
    python -m bench.bench_storage --smoke   # tiny: a check that it runs, not a measurement
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def semsearch_run(folder: Path, vectors: np.ndarray, per_file: int, batch: int) -> dict[str, Any]:
    from searchengine.catalog import NewItem
    from searchengine.records import Chunk
    from searchengine.store import Store

    n, dim = vectors.shape
    started = time.perf_counter()
    with Store(folder, writer=True, durable=True) as store:
        store.catalog.ensure_space("text", "bench", "fp", dim)
        files = range(0, n, per_file)
        for at in range(0, len(files), batch):
            items, stacked = [], []
            for f in files[at : at + batch]:
                part = vectors[f : f + per_file]
                chunks = [Chunk(f"chunk {f + i}", 0, 8) for i in range(len(part))]
                items.append(NewItem(f"/bench/{f}.txt", "text", 1, 1, str(f), "text", chunks, part))
                stacked.append(part)
            added, removed = store.catalog.write_items(items, {"text": "fp"})
            space = store.catalog.space("text")
            assert space is not None
            store.apply(space, added["text"], np.concatenate(stacked), removed.get("text", []))
        store.save()
    seconds = time.perf_counter() - started
    catalog = sum(folder_bytes(folder) - p.stat().st_size for p in folder.glob("*.hnsw"))
    return {"seconds": seconds, "bytes": folder_bytes(folder), "catalog_bytes": catalog}


def bare_run(folder: Path, vectors: np.ndarray) -> dict[str, Any]:
    import hnswlib

    from searchengine.config import DEFAULT_HNSW_EF_CONSTRUCTION, DEFAULT_HNSW_M

    n, dim = vectors.shape
    folder.mkdir(parents=True)
    started = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=n, M=DEFAULT_HNSW_M, ef_construction=DEFAULT_HNSW_EF_CONSTRUCTION)
    index.add_items(vectors, np.arange(1, n + 1))
    index.save_index(str(folder / "bare.bin"))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": folder_bytes(folder)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--chunks-per-file", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500, help="files per commit")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a check, not a measurement")
    args = ap.parse_args()
    if args.smoke:
        args.vectors, args.dim, args.repeat = 2_000, 32, 1
    vectors = unit_vectors(args.vectors, args.dim)
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {"semsearch": [], "bare": []}
    tmp = Path(tempfile.mkdtemp(prefix="semsearch-storage-"))
    try:
        for r in range(args.repeat):
            runs["semsearch"].append(
                semsearch_run(tmp / f"s{r}", vectors, args.chunks_per_file, args.batch)
            )
            runs["bare"].append(bare_run(tmp / f"b{r}", vectors))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def median(side: str, key: str) -> float:
        return float(statistics.median(run[key] for run in runs[side]))

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
        f"load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        "vectors": args.vectors,
        "dim": args.dim,
        "repeat": args.repeat,
        "semsearch_s": round(median("semsearch", "seconds"), 2),
        "bare_s": round(median("bare", "seconds"), 2),
        "semsearch_mb": round(median("semsearch", "bytes") / 2**20, 1),
        "catalog_mb": round(median("semsearch", "catalog_bytes") / 2**20, 1),
        "bare_mb": round(median("bare", "bytes") / 2**20, 1),
    }
    result["time_ratio"] = round(result["semsearch_s"] / result["bare_s"], 2)
    result["size_ratio"] = round(result["semsearch_mb"] / result["bare_mb"], 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"machine: {result['machine']}")
    print(f"{args.vectors} vectors of {args.dim} dimensions, median of {args.repeat} runs:")
    print(
        f"  semsearch (catalog + index): {result['semsearch_s']:7.2f} s "
        f"{result['semsearch_mb']:8.1f} MB (catalog {result['catalog_mb']} MB)"
    )
    print(f"  bare hnswlib:                {result['bare_s']:7.2f} s {result['bare_mb']:8.1f} MB")
    print(f"  ratio: time {result['time_ratio']}x, size {result['size_ratio']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
