"""How many tokens one text vector should read: MRR@10 of each labelled set, per size.

Chunks stay the size the lexical (BM25) side and the snippets use (the text model's
maximum); `Settings.vector_tokens` splits a longer chunk into pieces of about equal
length, one vector each (indexer/chunk.py). This indexes every set's folder once per
size, with the default models, and asks each set's queries in each mode:

* MRR@10 per size with its 95% bootstrap interval;
* Δ: the paired difference from the first size (the same resampled queries on both
  sides), which is what tells a change from noise;
* what it costs: vectors stored, and seconds to index (one run each: noisy).

    python -m bench.bench_vector_tokens [--sizes none,384,256] [--cache DIR] [--json]
    python -m bench.bench_vector_tokens --smoke   # a few queries of each set: a check
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.tune_fusion import SETS, smoke_sets  # noqa: E402
from searchengine import Encoders, Filters, Index, Settings  # noqa: E402
from searchengine.config import DEFAULT_TEXT_MODEL, DEFAULT_VECTOR_TOKENS, data_home  # noqa: E402
from searchengine.files import path_key  # noqa: E402
from searchengine.models.spaces import load_text_encoder  # noqa: E402
from searchengine.query.evaluate import Metrics, bootstrap_interval, read_qrels  # noqa: E402

MODES = ("hybrid", "dense", "lexical")
DEPTH = 10


def parse_size(word: str) -> int | None:
    return None if word.lower() in ("none", "chunk") else int(word)


def label(size: int | None) -> str:
    return "chunk" if size is None else str(size)


def run(args: argparse.Namespace, sets: dict[str, Path]) -> dict:
    sizes = [parse_size(w) for w in args.sizes.split(",")]
    folders = sorted({p.parent / "docs" for p in sets.values()})
    model_cache = data_home() / "models"
    first = Settings(index_dir=args.cache / "probe", model_cache=model_cache)
    encoders = Encoders(text=load_text_encoder(DEFAULT_TEXT_MODEL, first))
    report: dict = {
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "sizes": [label(s) for s in sizes],
        "cost": {},
        "sets": {},
    }
    per_query: dict[str, dict[str, dict[str, list[float]]]] = {}  # size -> set -> mode
    for size in sizes:
        cost = report["cost"][label(size)] = {"vectors": 0, "index_seconds": 0.0}
        per_query[label(size)] = {}
        for folder in folders:
            settings = Settings(
                index_dir=args.cache / label(size) / folder.parent.name,
                model_cache=model_cache,
                vector_tokens=size,
                word_vectors=False,
            )
            with Index.open(settings=settings, encoders=encoders) as index:
                t0 = time.perf_counter()
                index.add(folder)
                cost["index_seconds"] += round(time.perf_counter() - t0, 1)
                text = next(s for s in index.status().spaces if s["name"] == "text")
                cost["vectors"] += int(text["vectors"])  # type: ignore[call-overload]
                for name, qrels_path in sets.items():
                    if qrels_path.parent / "docs" != folder:
                        continue
                    per_query[label(size)][name] = ask(index, qrels_path)
    report["sets"] = paired(per_query, sets, MODES)
    return report


def paired(
    per_query: dict[str, dict[str, dict[str, list[float]]]],
    names: Iterable[str],
    modes: Sequence[str],
) -> dict:
    """Per set and mode (variant -> set -> mode -> each query's reciprocal rank): each
    variant's MRR@10 with its 95% interval and, past the first variant, its paired
    difference from the first, with that difference's interval and how many queries went
    up and down. A variant without a mode's figures is left out of that mode."""
    base = next(iter(per_query))
    out: dict = {}
    for name in names:
        entry: dict = {"queries": len(per_query[base][name][modes[0]])}
        out[name] = entry
        for mode in modes:
            rows: dict = {}
            entry[mode] = rows
            ref = np.asarray(per_query[base][name][mode])
            for variant, by_set in per_query.items():
                if mode not in by_set[name]:
                    continue
                got = np.asarray(by_set[name][mode])
                low, high = bootstrap_interval(got.tolist())
                row = {
                    "mrr@10": round(float(got.mean()), 4),
                    "ci95": [round(low, 4), round(high, 4)],
                }
                if variant != base:
                    d_low, d_high = bootstrap_interval((got - ref).tolist())
                    row["delta"] = round(float((got - ref).mean()), 4)
                    row["delta_ci95"] = [round(d_low, 4), round(d_high, 4)]
                    row["better"] = int((got > ref).sum())
                    row["worse"] = int((got < ref).sum())
                rows[variant] = row
    return out


def ask(index: Index, qrels_path: Path, modes: Sequence[str] = MODES) -> dict[str, list[float]]:
    """Each query's reciprocal rank (MRR@10's terms) per mode."""
    qrels = read_qrels(qrels_path)
    filters = Filters(folders=(qrels.folder,))
    out: dict[str, list[float]] = {}
    for mode in modes:
        metrics = Metrics()
        for query, relevant in qrels.relevant.items():
            hits = index.search(query, k=DEPTH, mode=mode, filters=filters).hits  # type: ignore[arg-type]
            metrics.add([path_key(h.path) for h in hits], relevant)
        out[mode] = metrics.per_query["mrr@10"]
    return out


def show(report: dict) -> None:
    sizes = report["sizes"]
    print(f"machine: {report['machine']}")
    for size in sizes:
        cost = report["cost"][size]
        print(
            f"tokens per vector {size:>5}: {cost['vectors']} vectors, "
            f"indexed in {cost['index_seconds']:.1f} s"
        )
    for name, entry in report["sets"].items():
        print(f"\n{name} ({entry['queries']} queries): MRR@10 [95%], Δ from {sizes[0]} [95%]")
        for mode in MODES:
            cells = []
            for size in sizes:
                r = entry[mode][size]
                cell = f"{size}: {r['mrr@10']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
                if "delta" in r:
                    low, high = r["delta_ci95"]
                    cell += f" Δ {r['delta']:+.3f} [{low:+.3f}, {high:+.3f}]"
                cells.append(cell)
            print(f"  {mode:8} " + "   ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sizes",
        default=f"none,{DEFAULT_VECTOR_TOKENS}",
        help="comma-separated; 'none': one vector per chunk (default: none and the product's)",
    )
    ap.add_argument("--cache", type=Path, default=ROOT / "bench/.cache/vector-tokens")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="a few queries and files of each set")
    args = ap.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="vector-tokens-smoke-") as tmp:
            args.cache = Path(tmp) / "indexes"
            report = run(args, smoke_sets(Path(tmp) / "evalsets"))
    else:
        report = run(args, SETS)
    if args.json:
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        show(report)


if __name__ == "__main__":
    main()
