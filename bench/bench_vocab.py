"""Word-vector training cost: time and model size at 10,000 and 100,000 chunks.

Protocol: the answer files of the two shipped evaluation sets (evalsets/
debian-faq-ko and python-faq-en: Korean and English) are analysed once into
their BM25 terms (`searchengine.lexical.index_text`, as indexing does) and cut
into chunks of `--chunk-terms` terms; those real chunks are repeated, in turn,
until there are `--chunks` of them. So the text is real but its vocabulary
stays that of the two sets (~6,000 terms), while the token count, which is what
training time follows, grows to full size. Each method (skip-gram, CBOW,
GloVe) is trained as `Index.add` trains it (`searchengine.vocab.train`:
the same dimensions, windows, minimum count and epochs for that many tokens),
then saved as the index folder keeps it; the file's size is the model's size.
Reading the terms back from a catalog is not timed here.

    python -m bench.bench_vocab [--chunks 10000 100000] [--chunk-terms 100] [--json]
    python -m bench.bench_vocab --smoke    # 300 chunks: a check, not a measurement
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from searchengine.lexical import index_text  # noqa: E402
from searchengine.vocab.corpus import TermCorpus  # noqa: E402
from searchengine.vocab.store import METHODS, save_vectors  # noqa: E402
from searchengine.vocab.train import epochs_for, train_method  # noqa: E402

SETS = ("debian-faq-ko", "python-faq-en")


def real_chunks(chunk_terms: int) -> list[list[str]]:
    chunks = []
    for name in SETS:
        for doc in sorted((ROOT / "evalsets" / name / "docs").glob("*.txt")):
            terms = index_text(doc.read_text(encoding="utf-8")).split()
            chunks += [terms[i : i + chunk_terms] for i in range(0, len(terms), chunk_terms)]
    return [c for c in chunks if c]


def corpus_of(chunks: list[list[str]], n: int) -> TermCorpus:
    vocabulary: dict[str, int] = {}
    runs = [
        np.asarray([vocabulary.setdefault(t, len(vocabulary)) for t in c], np.int32) for c in chunks
    ]
    picked = [runs[i % len(runs)] for i in range(n)]
    ids = np.concatenate(picked)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in picked])]).astype(np.int64)
    return TermCorpus(
        list(vocabulary),
        np.bincount(ids, minlength=len(vocabulary)),
        ids,
        offsets,
        np.arange(n, dtype=np.int64),
        np.arange(n, dtype=np.int64),
        [""] * n,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--chunk-terms", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="300 chunks, to check the script runs")
    args = ap.parse_args()
    sizes = [300] if args.smoke else args.chunks
    source = real_chunks(args.chunk_terms)
    print(f"{platform.processor() or platform.machine()}, {len(source)} real chunks repeated")
    heads = ("chunks", 8), ("tokens", 11), ("epochs", 6), ("method", 9), ("terms", 7)
    print(" ".join(f"{h:>{w}}" for h, w in heads) + f" {'train s':>8} {'size MB':>8}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            corpus = corpus_of(source, n)
            for method in METHODS:
                started = time.perf_counter()
                wv = train_method(corpus, method)
                seconds = time.perf_counter() - started
                size = save_vectors(Path(tmp), wv).stat().st_size
                row = {
                    "chunks": n,
                    "tokens": corpus.tokens,
                    "epochs": epochs_for(corpus.tokens),
                    "method": method,
                    "terms": len(wv),
                    "train_s": round(seconds, 2),
                    "size_mb": round(size / 1e6, 2),
                }
                rows.append(row)
                print(
                    f"{n:8,} {corpus.tokens:11,} {row['epochs']:6} {method:>9} {len(wv):7,} "
                    f"{seconds:8.1f} {size / 1e6:8.2f}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
