"""Outliers: kNN distance against an autoencoder's reconstruction error, on planted sets.

Each set is a folder of one kind of item with a few items of another kind planted
in it, indexed with the default models; both methods score every item of the
space (`find_outliers`' own scorers), and the planted items should come first:

- another language and subject: 6 Korean Debian FAQ answers among the 179 English
  Python FAQ answers (evalsets/);
- another subject, same language: 6 Korean LibreOffice help pages among the 123
  Korean Debian FAQ answers;
- photos among drawings: 4 photos (evalsets/photos) among the 12 drawings of
  sample_corpus/images (the documents' kind of picture).

Two ways to plant: all of them at once ("together": a small group of their own, which
hides each from a kNN score whose k neighbours are the group itself), reported as the
average precision of the planted items and how many are in the first P (P: how many
were planted), the autoencoder over 3 seeds; and each alone among the base items
("alone"), reported as the rank it gets.

    python -m bench.bench_outliers            # the three sets
    python -m bench.bench_outliers --smoke    # one small set: a check
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from searchengine import Index, Settings
from searchengine.catalog.browse import space_items
from searchengine.explore.autoencoder import reconstruction_errors
from searchengine.explore.outliers import DEFAULT_NEIGHBOURS, nearest

REPO = Path(__file__).resolve().parent.parent
EVALSETS = REPO / "evalsets"
PHOTOS = ("chelsea_cat.jpg", "coffee.jpg", "dandelion_seeds.jpg", "temple.jpg")
SEEDS = 3


def docs(folder: str, n: int | None) -> list[Path]:
    found = sorted((EVALSETS / folder / "docs").iterdir())
    return found[:n] if n else found


def drawings() -> list[Path]:
    return [
        p
        for p in sorted((REPO / "sample_corpus" / "images").iterdir())
        if p.suffix == ".png" and p.stem.isascii()  # not the screenshot of a web page
    ]


def average_precision(scores: np.ndarray, planted: np.ndarray) -> tuple[float, int]:
    """(average precision of the planted rows, how many are in the first len(planted))."""
    order = np.argsort(-scores, kind="stable")
    hits = planted[order]
    found = np.cumsum(hits)
    ap = float(np.sum(found[hits] / (np.flatnonzero(hits) + 1)) / max(hits.sum(), 1))
    return ap, int(hits[: int(planted.sum())].sum())


def knn_scores(vectors: np.ndarray, k: int) -> np.ndarray:
    _, dists = nearest(vectors, k)
    return np.asarray(dists.mean(axis=1))


def rank_of(scores: np.ndarray, row: int) -> int:
    """1 + how many rows score above `row`."""
    return 1 + int(np.sum(scores > scores[row]))


def measure(
    name: str, base: list[Path], odd: list[Path], space: str, tmp: Path, seeds: int = SEEDS
) -> None:
    folder = tmp / name.replace(" ", "-")
    folder.mkdir()
    for p in base:
        shutil.copy(p, folder / p.name)
    for p in odd:
        shutil.copy(p, folder / f"planted-{p.name}")
    started = time.monotonic()
    settings = Settings(index_dir=tmp / f"index-{folder.name}", word_vectors=False)
    with Index.open(settings=settings) as index:
        index.add(folder)
        items = space_items(index._read_store().catalog, space)
    planted = np.asarray([Path(p).name.startswith("planted-") for p in items.paths])
    vectors = items.vectors
    print(
        f"{name} ({len(items.ids)} items in {space}, {int(planted.sum())} planted; "
        f"{time.monotonic() - started:.0f} s)"
    )
    # all planted at once: a small group of their own
    for k in (DEFAULT_NEIGHBOURS, 2 * DEFAULT_NEIGHBOURS):
        ap, top = average_precision(knn_scores(vectors, k), planted)
        print(f"  together  knn k={k:<2}      AP {ap:.3f}   planted in first P: {top}")
    runs = [
        average_precision(reconstruction_errors(vectors, seed=s), planted) for s in range(seeds)
    ]
    aps = [r[0] for r in runs]
    print(
        f"  together  autoencoder   AP {statistics.fmean(aps):.3f} ± {statistics.pstdev(aps):.3f}"
        f"   planted in first P: {', '.join(str(r[1]) for r in runs)} (seeds 0-{seeds - 1})"
    )
    # each planted item alone among the base items: the rank it gets
    rest = np.flatnonzero(~planted)
    ranks: dict[str, list[int]] = {"knn": [], "autoencoder": []}
    for row in np.flatnonzero(planted):
        rows = np.r_[rest, row]
        alone = vectors[rows]
        ranks["knn"].append(rank_of(knn_scores(alone, DEFAULT_NEIGHBOURS), len(rows) - 1))
        ranks["autoencoder"].append(rank_of(reconstruction_errors(alone), len(rows) - 1))
    for method, found in ranks.items():
        print(
            f"  alone     {method:12}  ranks {' '.join(map(str, found))} of {len(rest) + 1}"
            f"   first: {sum(r == 1 for r in found)}, in first 5: {sum(r <= 5 for r in found)}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="small sets: a check")
    args = ap.parse_args()
    # smoke: the first set, small, and a smaller timing
    few = 12 if args.smoke else None
    rows = 2_000 if args.smoke else 100_000
    spread = np.random.default_rng(0).normal(size=(rows, 384)).astype(np.float32)
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    started = time.perf_counter()
    reconstruction_errors(spread)
    print(f"autoencoder on {rows:,} vectors of 384: {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        measure(
            "another language and subject",
            docs("python-faq-en", few),
            docs("debian-faq-ko", 2 if args.smoke else 6),
            "text",
            root,
            seeds=1 if args.smoke else SEEDS,
        )
        if not args.smoke:  # the smoke run checks the script with one small set
            measure(
                "another subject, same language",
                docs("debian-faq-ko", few),
                docs("libreoffice-help-ko", 6),
                "text",
                root,
            )
            measure(
                "photos among drawings",
                drawings(),
                [EVALSETS / "photos" / p for p in PHOTOS],
                "image",
                root,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
