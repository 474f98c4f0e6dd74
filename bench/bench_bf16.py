"""bf16 text encoding: how much faster indexing is, and what it costs in search quality.

`Settings(text_precision="bf16")` (`semsearch index --bf16`) runs the torch indexing
batches' matrix products in bfloat16 (autocast) where the CPU has bfloat16
instructions (AVX512-BF16, AMX); queries stay fp32. Protocol:

* vectors: 64 passages of the evalsets corpora (400-character pieces, e5's
  128-token budget), encoded on torch in fp32 and in bf16: cosine min / median;
* speed: the same 64 passages, one batch of 32 at a time, the two precisions in
  rotation (`--rounds`, median), so both see the same load;
* quality: both shipped labelled sets indexed from scratch with `Index.add` in each
  precision, each corpus in its own index (default settings otherwise: the auto
  engine sends batches of 16 passages or more to torch), then `Index.evaluate` in
  dense and hybrid mode, what `semsearch eval` runs. The rule for a lower-precision
  encoder (issue 15): at most 1% MRR@10 lost, relative, on any set and mode.

    python -m bench.bench_bf16 [--rounds 3] [--threads 1]
    python -m bench.bench_bf16 --smoke   # a few documents: a check that it runs
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

SETS = [
    ROOT / "evalsets" / "debian-faq-ko" / "qrels.tsv",
    ROOT / "evalsets" / "debian-faq-ko" / "qrels-en.tsv",
    ROOT / "evalsets" / "python-faq-en" / "qrels.tsv",
]
PRECISIONS = ("fp32", "bf16")


def passages(n: int) -> list[str]:
    out: list[str] = []
    for q in SETS[::2]:
        for f in sorted((q.parent / "docs").iterdir()):
            text = f.read_text(encoding="utf-8", errors="replace")
            out += [text[i : i + 400] for i in range(0, len(text), 400)][:4]
    return out[:n]


def vectors_and_speed(model_cache: Path, threads: int, rounds: int, n: int) -> dict:
    from searchengine.models.presets import resolve_text_model
    from searchengine.models.text_encoder import TextEncoder

    source = resolve_text_model("e5-small", model_cache)
    texts = passages(n)
    enc = {
        p: TextEncoder(source, batch_size=32, engine="torch", precision=p, threads=threads)  # type: ignore[arg-type]
        for p in PRECISIONS
    }
    vecs = {p: e.encode(texts) for p, e in enc.items()}  # also the warm-up
    cos = np.sum(vecs["fp32"] * vecs["bf16"], axis=1)
    rates: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(rounds):
        for p, e in enc.items():
            started = time.perf_counter()
            e.encode(texts)
            rates[p].append(len(texts) / (time.perf_counter() - started))
    return {
        "passages": len(texts),
        "bf16_ran": enc["bf16"].precision == "bf16",
        "cos_min": float(cos.min()),
        "cos_median": float(np.median(cos)),
        "chunks_per_s": {p: statistics.median(r) for p, r in rates.items()},
    }


def quality(model_cache: Path, smoke: bool) -> dict:
    from searchengine import Index, Settings

    out: dict = {}
    for precision in PRECISIONS:
        tmp = Path(tempfile.mkdtemp(prefix="semsearch-bf16-"))
        try:
            row: dict = {"index_s": 0.0}
            # each corpus in its own index, as `semsearch eval` and docs/search-quality.md
            # have them (one shared index would pool BM25's statistics)
            for folder in sorted({q.parent / "docs" for q in SETS}):
                settings = Settings(
                    index_dir=tmp / "index" / folder.parent.name,
                    model_cache=model_cache,
                    text_precision=precision,
                    word_vectors=False,
                )
                if smoke:  # a few documents of each corpus
                    small = tmp / "docs" / folder.parent.name
                    small.mkdir(parents=True)
                    for f in sorted(folder.iterdir())[:3]:
                        shutil.copy(f, small / f.name)
                with Index.open(settings=settings) as index:
                    started = time.perf_counter()
                    index.add(tmp / "docs" / folder.parent.name if smoke else folder)
                    row["index_s"] += time.perf_counter() - started
                    for q in SETS if not smoke else SETS[2:]:
                        if q.parent != folder.parent:
                            continue
                        small_docs = tmp / "docs" / q.parent.name if smoke else None
                        report = index.evaluate(q, folder=small_docs, modes=("dense", "hybrid"))
                        modes = report.to_json(str(q))["modes"]
                        row[f"{q.parent.name}/{q.name}"] = {
                            m: (modes[m]["all"]["recall@10"], modes[m]["all"]["mrr@10"])
                            for m in ("dense", "hybrid")
                        }
            out[precision] = row
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the speed part")
    ap.add_argument("--smoke", action="store_true", help="a few documents: a check, not a figure")
    args = ap.parse_args()
    from searchengine.config import Settings
    from searchengine.models.text_backends import cpu_has_bf16

    model_cache = Settings().model_cache
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, load {load:.1f} before; "
        f"bfloat16 instructions: {'yes' if cpu_has_bf16() else 'no (the bf16 runs are fp32)'}"
    )
    speed = vectors_and_speed(model_cache, args.threads, 1 if args.smoke else args.rounds, 64)
    rate = speed["chunks_per_s"]
    print(
        f"vectors, {speed['passages']} passages, bf16 vs fp32: cosine min "
        f"{speed['cos_min']:.6f} / median {speed['cos_median']:.6f}"
    )
    print(
        f"encoder chunks/s ({args.threads} thread, batch 32, median of rounds): "
        f"fp32 {rate['fp32']:.1f}, bf16 {rate['bf16']:.1f} ({rate['bf16'] / rate['fp32']:.2f}x)"
    )
    q = quality(model_cache, args.smoke)
    print(
        f"Index.add of the eval corpora: fp32 {q['fp32']['index_s']:.1f} s, bf16 "
        f"{q['bf16']['index_s']:.1f} s ({q['fp32']['index_s'] / q['bf16']['index_s']:.2f}x)"
    )
    print(
        f"{'set / mode':40} {'fp32 R@10 / MRR@10':>20} "
        f"{'bf16 R@10 / MRR@10':>20} {'MRR change':>11}"
    )
    worst = 0.0
    for key in (k for k in q["fp32"] if k != "index_s"):
        for mode in ("dense", "hybrid"):
            a, b = q["fp32"][key][mode], q["bf16"][key][mode]
            change = (b[1] - a[1]) / a[1] if a[1] else 0.0
            worst = min(worst, change)
            print(
                f"{key + ' ' + mode:40} {a[0]:9.4f} / {a[1]:.4f} {b[0]:9.4f} / {b[1]:.4f} "
                f"{change * 100:+10.2f}%"
            )
    verdict = "passes" if worst >= -0.01 else "fails"
    print(f"verdict: worst MRR@10 change {worst * 100:+.2f}%: {verdict} the 1% rule")
    print(f"load {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
