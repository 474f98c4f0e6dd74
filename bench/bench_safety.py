"""The cost of safety: fsync while indexing, and opening, checking and rebuilding big indexes.

Protocol:

* Indexing throughput: ``--files`` small text files (one chunk each) indexed by
  ``searchengine.Index.add`` (walk, hash, the file-reading process, chunk, encode,
  commit, HNSW) with a tiny random BERT built on the spot, so that encoding is
  cheap and the storage cost shows: an upper bound of the overhead a real
  model would see. Once with ``fsync=True`` (SQLite synchronous=FULL, fsync of
  every index file and its folder), once with ``fsync=False`` (synchronous=OFF,
  no fsync), each into a fresh index, ``--repeat`` times, the variants in turn; the median counts.
  A third run saves the index after every commit (``index_save_seconds=0``).
* Commits: ``--commits`` one-file catalog transactions, durable or not.
* Churn: ``--churn-vectors`` vectors (dim 64), then 12 rounds that each replace a
  tenth of them, saving (and compacting past 20% deleted) after each; file size
  and query time against a fresh build of the same vectors.
* Big index: ``--vectors`` random unit vectors of ``--dim`` dimensions written
  straight into a catalog (SQL), then timed: a rebuild from the catalog and its
  atomic save; an open of the saved file with every check (header and labels
  read from the file, hnswlib load, reconcile with the catalog, sampled vectors
  compared); the bare hnswlib load for comparison; an open that catches up
  1% of vectors committed after the save (a killed run); an open with the file
  missing (a rebuild); search latency.

    python -m bench.bench_safety [--json] [--files 2000] [--vectors 100000] [--dim 384]
    python -m bench.bench_safety --smoke    # every part on tiny sizes: a check, not a measurement

The commit, churn and big-index parts time the catalog and the index files
themselves (``Catalog``, ``Store``, ``HnswIndex``) on purpose: those are the units
measured. Indexing goes through ``searchengine.Index`` like any other caller.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = "the car road engine price dog park rain bread oven report meeting tax bank".split()


def tiny_bert(folder: Path) -> Path:
    """A real BERT with random weights, 32 dimensions: encoding costs next to nothing."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
        set("abcdefghijklmnopqrstuvwxyz0123456789.") | set(WORDS)
    )
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=64)
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def make_folder(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        words = " ".join(rng.choice(WORDS, 12))
        (folder / f"note{i:05}.txt").write_text(f"note {i}: {words}.")


def time_indexing(tmp: Path, files: int, repeat: int) -> dict[str, Any]:
    from searchengine import Index, Settings

    bert = tiny_bert(tmp / "bert")
    folder = tmp / "folder"
    make_folder(folder, files)
    base = Settings(
        index_dir=tmp / "idx", model_cache=tmp / "models", text_model=str(bert), image_model=None
    )
    variants = {
        "fsync": replace(base, fsync=True),
        "no_fsync": replace(base, fsync=False),
        "fsync_save_every_commit": replace(base, fsync=True, index_save_seconds=0.0),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    # a warm-up run (model load, caches), then the variants in turn, so that
    # a change in the machine's load falls on all of them alike
    for r in range(-1, repeat):
        for name, settings in variants.items():
            s = replace(settings, index_dir=tmp / f"idx-{name}-{r}")
            started = time.perf_counter()
            with Index.open(settings=s) as index:
                summary = index.add(folder)
            if r >= 0:
                seconds[name].append(time.perf_counter() - started)
            assert summary.added == files
            shutil.rmtree(s.index_dir)
    out: dict[str, Any] = {}
    for name, runs in seconds.items():
        med = statistics.median(runs)
        out[name] = {"seconds": round(med, 3), "files_per_s": round(files / med, 1)}
    out["fsync_overhead"] = round(out["fsync"]["seconds"] / out["no_fsync"]["seconds"] - 1, 3)
    return out


def time_commits(tmp: Path, commits: int) -> dict[str, Any]:
    """One small catalog transaction (a file, a chunk, a vector), durable or not."""
    from searchengine.catalog import Catalog, NewItem
    from searchengine.records import Chunk

    out: dict[str, Any] = {}
    vec = np.ones((1, 384), np.float32) / np.sqrt(384)
    for durable in (True, False):
        catalog = Catalog(tmp / f"commits-{durable}" / "catalog.sqlite", durable=durable)
        catalog.ensure_space("text", "bench", "fp", 384)
        started = time.perf_counter()
        for i in range(commits):
            item = NewItem(f"/c/{i}", "text", 1, 1, str(i), "text", [Chunk("x", 0, 1)], vec)
            catalog.write_items([item], {"text": "fp"})
        per = (time.perf_counter() - started) / commits * 1000
        catalog.close()
        out["commit_ms_fsync" if durable else "commit_ms_no_fsync"] = round(per, 2)
    return out


def time_churn(tmp: Path, n: int, dim: int, rounds: int) -> dict[str, Any]:
    """An index after `rounds` updates of a tenth of its vectors, against a fresh build."""
    from searchengine.catalog import NewItem
    from searchengine.records import Chunk
    from searchengine.store import Store
    from searchengine.store.hnsw import HnswIndex

    rng = np.random.default_rng(3)
    folder = tmp / "churn"

    def unit(m: int) -> np.ndarray:
        v = rng.normal(size=(m, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    with Store(folder, writer=True, durable=False) as store:
        store.catalog.ensure_space("text", "bench", "fp", dim)
        for r in range(rounds + 1):
            names = range(n) if r == 0 else rng.choice(n, n // 10, replace=False).tolist()
            vecs = unit(len(names))
            items = [
                NewItem(f"/c/{i}", "text", 1, r, f"{i}.{r}", "text", [Chunk("x", 0, 1)], v[None])
                for i, v in zip(names, vecs, strict=True)
            ]
            added, removed = store.catalog.write_items(items, {"text": "fp"})
            store.apply(store.catalog.space("text"), added["text"], vecs, removed.get("text", []))
            store.save()
        fresh = HnswIndex(dim, capacity=n)
        for labels, vectors in store.catalog.iter_vectors("text"):
            fresh.add(labels, vectors)
    fresh.save(tmp / "fresh.hnsw")
    churned = HnswIndex.load(folder / "text.hnsw", dim)
    queries = unit(300)

    # CPU time, best of 7 passes taken in turn: the machine's other load counts less
    indexes = {"churned": churned, "fresh": HnswIndex.load(tmp / "fresh.hnsw", dim)}
    best = dict.fromkeys(indexes, float("inf"))
    for _ in range(7):
        for name, idx in indexes.items():
            started = time.process_time()
            for q in queries:
                idx.search(q[None], 10)
            best[name] = min(best[name], (time.process_time() - started) / len(queries) * 1000)
    size_ratio = (folder / "text.hnsw").stat().st_size / (tmp / "fresh.hnsw").stat().st_size
    return {
        "vectors": n,
        "dim": dim,
        "rounds": rounds,
        "deleted_share": round(churned.deleted_count / churned.element_count, 3),
        "size_ratio": round(size_ratio, 3),
        "query_ms_churned": round(best["churned"], 4),
        "query_ms_fresh": round(best["fresh"], 4),
    }


def fill_catalog(index_dir: Path, n: int, dim: int) -> None:
    """n vectors (one file and chunk each) written into a catalog with plain SQL."""
    from searchengine.catalog import Catalog
    from searchengine.catalog.rows import vector_blob
    from searchengine.store import CATALOG_NAME

    catalog = Catalog(index_dir / CATALOG_NAME)
    catalog.ensure_space("text", "bench", "fp", dim)
    catalog.close()
    rng = np.random.default_rng(1)
    with sqlite3.connect(index_dir / CATALOG_NAME) as conn:
        start = int(conn.execute("SELECT coalesce(max(id), 0) FROM files").fetchone()[0]) + 1
        for at in range(0, n, 10_000):
            m = min(10_000, n - at)
            v = rng.normal(size=(m, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            ids = range(start + at, start + at + m)
            conn.executemany(
                "INSERT INTO files (id, path, path_key, kind, size, mtime_ns, sha256, indexed_at)"
                " VALUES (?, ?, ?, 'text', 1, 1, ?, 0)",
                ((i, f"/bench/{i}.txt", f"/bench/{i}.txt", str(i)) for i in ids),
            )
            conn.executemany(
                "INSERT INTO chunks (id, file_id, ordinal, page, start, end, text)"
                " VALUES (?, ?, 0, NULL, 0, 1, 'x')",
                ((i, i) for i in ids),
            )
            conn.executemany(
                "INSERT INTO vectors (space, file_id, chunk_id, fingerprint, data)"
                " VALUES ('text', ?, ?, 'fp', ?)",
                ((i, i, vector_blob(v[i - start - at])) for i in ids),
            )


def _timed(fn) -> tuple[float, Any]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def time_big_index(tmp: Path, n: int, dim: int) -> dict[str, Any]:
    import hnswlib

    from searchengine.store import Store
    from searchengine.store.hnsw import HnswIndex

    index_dir = tmp / "big"
    index_dir.mkdir()
    fill_seconds, _ = _timed(lambda: fill_catalog(index_dir, n, dim))
    out: dict[str, Any] = {"vectors": n, "dim": dim, "catalog_fill_s": round(fill_seconds, 1)}

    with Store(index_dir, writer=True) as store:
        space = store.catalog.space("text")
        out["rebuild_s"] = round(_timed(lambda: store.rebuild(space))[0], 2)
        out["save_fsync_s"] = round(_timed(store.save)[0], 2)
    path = index_dir / "text.hnsw"
    out["file_mb"] = round(path.stat().st_size / 2**20, 1)

    def open_checked() -> Any:
        with Store(index_dir) as store:
            return store.hnsw_index(store.catalog.space("text"))

    out["open_checked_s"] = round(min(_timed(open_checked)[0] for _ in range(3)), 3)

    def bare_load() -> None:
        raw = hnswlib.Index(space="ip", dim=dim)
        raw.load_index(str(path))

    out["open_bare_hnswlib_s"] = round(min(_timed(bare_load)[0] for _ in range(3)), 3)

    idx = HnswIndex.load(path, dim)
    queries = np.random.default_rng(2).normal(size=(200, dim)).astype(np.float32)
    lat = []
    for q in queries:
        t, _ = _timed(lambda q=q: idx.search(q[None], 10))
        lat.append(t * 1000)
    out["search_ms_p50"] = round(statistics.median(lat), 3)

    fill_catalog(index_dir, n // 100, dim)  # committed, never saved to the index: a killed run
    out["open_catch_up_1pct_s"] = round(_timed(open_checked)[0], 2)
    path.unlink()
    out["open_missing_file_s"] = round(_timed(open_checked)[0], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--churn-vectors", type=int, default=5000)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: a quick check that every part runs"
    )
    args = parser.parse_args()
    if args.smoke:
        args.files, args.repeat, args.commits = 20, 1, 10
        args.churn_vectors, args.vectors, args.dim = 300, 2000, 32
    tmp = Path(tempfile.mkdtemp(prefix="semsearch-bench-"))
    try:
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
            f"load {os.getloadavg()[0]:.1f} at start",
            "indexing": time_indexing(tmp, args.files, args.repeat),
            "commits": time_commits(tmp, args.commits),
            "churn": time_churn(tmp, args.churn_vectors, 64, rounds=11),
            "big_index": time_big_index(tmp, args.vectors, args.dim),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    ix, big = result["indexing"], result["big_index"]
    print(f"machine: {result['machine']}")
    print(f"indexing {args.files} small text files (tiny model; median of {args.repeat}):")
    for name in ("fsync", "no_fsync", "fsync_save_every_commit"):
        print(f"  {name:26} {ix[name]['seconds']:8.2f} s  {ix[name]['files_per_s']:8.1f} files/s")
    print(f"  fsync costs {ix['fsync_overhead']:+.1%} of the run")
    c = result["commits"]
    print(
        f"one catalog commit: {c['commit_ms_fsync']} ms durable (synchronous=FULL), "
        f"{c['commit_ms_no_fsync']} ms without fsync"
    )
    ch = result["churn"]
    print(
        f"after {ch['rounds']} updates of a tenth of {ch['vectors']} vectors (dim {ch['dim']}): "
        f"{ch['deleted_share']:.0%} deleted entries, file {ch['size_ratio']:.2f}x a fresh one, "
        f"query {ch['query_ms_churned']} ms vs {ch['query_ms_fresh']} ms fresh (CPU time)"
    )
    print(f"index of {big['vectors']} vectors, dim {big['dim']} ({big['file_mb']} MB file):")
    for key in (
        "rebuild_s",
        "save_fsync_s",
        "open_checked_s",
        "open_bare_hnswlib_s",
        "open_catch_up_1pct_s",
        "open_missing_file_s",
        "search_ms_p50",
    ):
        print(f"  {key:26} {big[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
