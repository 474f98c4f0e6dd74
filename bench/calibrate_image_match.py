"""Calibrate GOOD_MATCH["semsearch-clip"]: the z-score from which a text->image top-1 is good.

Protocol:

* Gallery: the held-out images of bench/bench_clip_recall.py (training/data/manifest.jsonl,
  split "heldout"), decoded and encoded exactly as that bench does (the product's
  searchengine.models.images.load_image, then ImageEncoder.encode_images of the shipped
  semsearch-clip). Gallery label i is the manifest order.
* Background: as searchengine/query/searcher.py (``Searcher._background``) draws it
  for an index: over the sorted labels (0..n-1),
  ``np.sort(np.random.default_rng(0).choice(labels, 1024, replace=False))``;
  a query's z = (cosine - mean) / std of its similarities to that sample
  (searchengine.query.fusion.Background.zscore).
* Answerable queries: the held-out concepts' Korean and English names, as in
  bench_clip_recall (one query per distinct text; relevant: every gallery image of a
  concept with that name), encoded by ImageEncoder.encode_texts. The top-1 of the whole
  gallery is split into "relevant" and "not relevant".
* Unanswerable queries: the questions of the shipped labelled sets (first column of
  evalsets/debian-faq-ko/qrels.tsv and evalsets/python-faq-en/qrels.tsv, rows whose
  kind is ``exact`` left out, one per distinct text): no gallery picture matches them.
  Their top-1's z is recorded.
* Cut-off: z* on the grid 0.0, 0.25, ..., 8.0 maximizing balanced accuracy =
  (share of relevant top-1s with z >= z* + share of unanswerable top-1s with z < z*) / 2;
  ties go to the lowest z. The same is reported for neighbouring cut-offs (z* -1, -0.5,
  -0.25, +0.25, +0.5, +1) and for the current value (searchengine.query.fusion.good_match_z
  for a search over the gallery's size: GOOD_MATCH's z where the gallery is the size it was
  calibrated at, moved with sqrt(2 ln N) elsewhere), and the
  balanced-accuracy-optimal raw cosine cut-off (over every observed top-1 cosine, and
  for a like-for-like comparison the optimal z over every observed top-1 z) shows
  whether z does better than a raw cut-off. All fitted in-sample.

    python training/build_data.py                  # once, builds the split
    python -m bench.calibrate_image_match [--json]
    python -m bench.calibrate_image_match --smoke  # the same, on bench_clip_recall's stand-in
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import platform
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.bench_clip_recall import (
    add_common_args,
    encode_heldout,
    korean_query,
    plain_name,
    smoke_data,
)

ROOT = Path(__file__).resolve().parents[1]

BACKGROUND_SIZE = 1024  # searchengine.query.fusion.BACKGROUND_SIZE
EVALSETS = ("debian-faq-ko", "python-faq-en")
GRID = np.arange(0.0, 8.0 + 1e-9, 0.25)
SMOKE_UNANSWERABLE = 12  # --smoke: questions kept of the labelled sets


def background_sample(n: int) -> np.ndarray:
    """The labels the searcher (searchengine/query/searcher.py) would sample for its background
    from an index of labels 0..n-1."""
    labels = np.arange(n)
    rng = np.random.default_rng(0)
    if len(labels) > BACKGROUND_SIZE:
        labels = np.sort(rng.choice(labels, BACKGROUND_SIZE, replace=False))
    return labels


def unanswerable_questions(limit: int | None = None) -> list[str]:
    texts: dict[str, None] = {}
    for name in EVALSETS:
        with (ROOT / "evalsets" / name / "qrels.tsv").open(encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if not row or row[0] == "query" or (len(row) > 2 and row[2] == "exact"):
                    continue
                texts.setdefault(row[0], None)
                if limit is not None and len(texts) >= limit:
                    return list(texts)
    return list(texts)


def top1(qv: np.ndarray, gallery: np.ndarray, sample: np.ndarray):
    """Top-1 gallery index, its cosine and its z-score for each query vector."""
    from searchengine.query.fusion import Background

    bg = Background(gallery[sample])
    sims = qv @ gallery.T
    best = np.argmax(sims, axis=1)  # first index on ties, like a stable sort
    cos = sims[np.arange(len(qv)), best].astype(np.float64)
    z = np.array([bg.zscore(qv[i : i + 1], np.array([cos[i]]))[0] for i in range(len(qv))])
    return best, cos, z


def rates(t: float, rel: np.ndarray, wrong: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    tpr = float(np.mean(rel >= t)) if len(rel) else float("nan")
    tnr = float(np.mean(neg < t)) if len(neg) else float("nan")
    return {
        "cutoff": round(float(t), 4),
        "relevant_kept": tpr,
        "unanswerable_rejected": tnr,
        "wrong_kept": float(np.mean(wrong >= t)) if len(wrong) else float("nan"),
        "balanced_accuracy": (tpr + tnr) / 2,
    }


def best_cutoff(candidates, rel, wrong, neg) -> dict[str, float]:
    best = None
    for t in candidates:
        r = rates(float(t), rel, wrong, neg)
        if best is None or r["balanced_accuracy"] > best["balanced_accuracy"] + 1e-12:
            best = r
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_common_args(ap)
    args = ap.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="calibrate-smoke-") as tmp:
            args.data = Path(tmp)
            args.clipart_root = smoke_data(args.data)
            return run(args)
    return run(args)


def run(args: argparse.Namespace) -> int:
    t0 = time.time()
    held, encoder, src, gallery, by_concept, t_img = encode_heldout(args)
    answerable: dict[str, set[int]] = defaultdict(set)
    lang_of: dict[str, set[str]] = defaultdict(set)
    for concept, idx in by_concept.items():
        for lang in ("ko", "en"):
            text = plain_name(concept) if lang == "en" else korean_query([held[i] for i in idx])
            if text:
                answerable[text].update(idx)
                lang_of[text].add(lang)
    ans_texts = sorted(answerable)
    neg_texts = unanswerable_questions(SMOKE_UNANSWERABLE if args.smoke else None)
    overlap = set(ans_texts) & set(neg_texts)
    neg_texts = [t for t in neg_texts if t not in overlap]

    t1 = time.time()
    ans_vecs = encoder.encode_texts(ans_texts)
    neg_vecs = encoder.encode_texts(neg_texts)
    t_txt = time.time() - t1

    sample = background_sample(len(gallery))
    a_best, a_cos, a_z = top1(ans_vecs, gallery, sample)
    n_best, n_cos, n_z = top1(neg_vecs, gallery, sample)
    hit = np.array([int(b) in answerable[t] for b, t in zip(a_best, ans_texts, strict=True)])
    rel_z, wrong_z, neg_z = a_z[hit], a_z[~hit], n_z
    rel_c, wrong_c, neg_c = a_cos[hit], a_cos[~hit], n_cos

    best = best_cutoff(GRID, rel_z, wrong_z, neg_z)
    zstar = best["cutoff"]
    neighbours = [
        rates(zstar + d, rel_z, wrong_z, neg_z)
        for d in (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)
        if 0.0 <= zstar + d <= 8.0 or d == 0.0
    ]
    cos_best = best_cutoff(np.unique(np.concatenate([rel_c, neg_c])), rel_c, wrong_c, neg_c)
    z_free = best_cutoff(np.unique(np.concatenate([rel_z, neg_z])), rel_z, wrong_z, neg_z)

    def med(x: np.ndarray) -> float | None:
        return float(np.median(x)) if len(x) else None

    by_lang = {}
    for lang in ("ko", "en"):
        m = np.array([lang in lang_of[t] for t in ans_texts])
        kept = a_z[m & hit]
        by_lang[lang] = {
            "queries": int(m.sum()),
            "top1_relevant": int((m & hit).sum()),
            "relevant_kept_at_z*": float(np.mean(kept >= zstar)) if len(kept) else None,
        }

    from searchengine.query.fusion import GOOD_MATCH, good_match_z

    cutoff = GOOD_MATCH.get(src.name)
    # what the product applies to a search over this gallery (the calibrated z moved
    # with the gallery's size; the z itself where the gallery is the calibrated size)
    current, _ = good_match_z(src.name, len(gallery))

    results: dict[str, object] = {
        "model": src.name,
        "where": src.where,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch_threads": args.threads,
        },
        "gallery_images": len(held),
        "gallery_concepts": len(by_concept),
        "background_size": len(sample),
        "counts": {
            "answerable": len(ans_texts),
            "top1_relevant": int(hit.sum()),
            "top1_not_relevant": int((~hit).sum()),
            "unanswerable": len(neg_texts),
            "unanswerable_dropped_as_gallery_names": len(overlap),
        },
        "median_z": {
            "top1_relevant": med(rel_z),
            "top1_not_relevant": med(wrong_z),
            "unanswerable": med(neg_z),
        },
        "median_cosine": {
            "top1_relevant": med(rel_c),
            "top1_not_relevant": med(wrong_c),
            "unanswerable": med(neg_c),
        },
        "current_good_match": None
        if cutoff is None
        else {"z": cutoff.z, "calibrated_at_vectors": cutoff.vectors},
        "current_cutoff_for_gallery": round(current, 4),
        "at_current": rates(current, rel_z, wrong_z, neg_z),
        "z_star": best,
        "neighbours": neighbours,
        "z_best_any_value": z_free,
        "cosine_best": cos_best,
        "by_lang": by_lang,
        "seconds": round(time.time() - t0, 1),
        "seconds_gallery": round(t_img, 1),
        "seconds_queries": round(t_txt, 1),
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0

    c = results["counts"]
    assert isinstance(c, dict)
    print(f"{results['model']} good-match calibration ({results['where']})")
    print(f"machine: {platform.platform()}  date: {results['date']}")
    print(
        f"gallery: {len(held)} held-out images of {len(by_concept)} concepts; "
        f"background sample {len(sample)}"
    )
    print(
        f"answerable queries: {c['answerable']} (top-1 relevant {c['top1_relevant']}, "
        f"not relevant {c['top1_not_relevant']}); unanswerable: {c['unanswerable']}"
    )
    mz, mc = results["median_z"], results["median_cosine"]
    assert isinstance(mz, dict) and isinstance(mc, dict)
    print(f"{'median':<22}{'relevant':>10}{'wrong':>10}{'unanswerable':>14}")
    for label, m in (("z", mz), ("cosine", mc)):
        print(
            f"{label:<22}{m['top1_relevant']:>10.3f}{m['top1_not_relevant']:>10.3f}"
            f"{m['unanswerable']:>14.3f}"
        )

    def line(label: str, r: dict[str, float]) -> str:
        return (
            f"{label:<22}{r['cutoff']:>8.3f}{r['relevant_kept']:>10.3f}"
            f"{r['unanswerable_rejected']:>12.3f}{r['wrong_kept']:>8.3f}"
            f"{r['balanced_accuracy']:>8.3f}"
        )

    print(f"{'cut-off':<22}{'value':>8}{'rel kept':>10}{'unans rej':>12}{'wrong':>8}{'bal acc':>8}")
    for r in neighbours:
        tag = "z* (grid optimum)" if r["cutoff"] == zstar else "z"
        print(line(tag, r))
    print(line("z current", results["at_current"]))  # type: ignore[arg-type]
    print(line("z any value", z_free))
    print(line("raw cosine", cos_best))
    if cutoff is not None:
        print(
            f"  (current: z {cutoff.z} calibrated at {cutoff.vectors} vectors, "
            f"{current:.3f} for a search over {len(gallery)})"
        )
    for lang, d in by_lang.items():
        kept = d["relevant_kept_at_z*"]
        print(
            f"  {lang}: {d['queries']} queries, top-1 relevant {d['top1_relevant']}, "
            f"relevant kept at z* {'-' if kept is None else f'{kept:.3f}'}"
        )
    print(
        f"({results['seconds']}s: gallery {results['seconds_gallery']}s, "
        f"queries {results['seconds_queries']}s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
