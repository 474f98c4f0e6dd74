"""Photos among drawings, through the product: an index of evalsets/photos plus the held-out
drawings, searched as a user searches it (`semsearch search WORDS --space image`).

Protocol:

* Gallery: the 29 photographs of evalsets/photos (captions.tsv: a Korean and an English
  caption each, written for this set) and the 1,582 held-out drawings of
  training/data/manifest.jsonl (clip art and emoji of concepts training never saw), copied
  into one folder and indexed by `searchengine.Index` with --image-model (tags included).
* Photo queries: each photo's Korean, then English caption; relevant: that photo. R@K:
  share of captions whose photo is among the first K images.
* Drawing queries: as bench/bench_clip_recall.py (English concept name, Korean name);
  relevant: every held-out picture of the concept; R@10. They show what tags cost or bring
  on drawings, in the same index.
* Modes: dense (the image vectors alone), lexical (the tags alone), hybrid (the product's
  default: dense z-score + weight x BM25 of the tags / the query's best BM25). The hybrid
  rows for other weights re-rank the same pool (the union of the dense and the tag
  matches, 100 deep) with z + w * bm25 / best; the product's weight is marked.

    python training/build_data.py                 # once, builds the held-out split
    python -m bench.bench_photos [--image-model NAME] [--json]     # default: the default model
    python -m bench.bench_photos --smoke          # the repository's pictures, as a check
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.bench_clip_recall import (
    add_common_args,
    korean_query,
    plain_name,
    smoke_data,
)

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "evalsets" / "photos"
KS = (1, 5, 10)
POOL = 100
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)  # re-ranked rows


def gallery_folder(args: argparse.Namespace, folder: Path) -> tuple[list[dict], list[dict]]:
    """Copy the photos and the held-out drawings into `folder`; returns (photos, drawings),
    each row with its gallery file name under "name"."""
    manifest = args.data / "manifest.jsonl"
    if not manifest.is_file():
        sys.exit(f"{manifest} is missing: run training/build_data.py first")
    with (PHOTOS / "captions.tsv").open(encoding="utf-8") as f:
        photos = list(csv.DictReader(f, delimiter="\t"))
    for p in photos:
        p["name"] = f"photo_{p['file']}"
        shutil.copyfile(PHOTOS / p["file"], folder / p["name"])
    rows = [json.loads(line) for line in manifest.open(encoding="utf-8")]
    held = [r for r in rows if r["split"] == "heldout"]
    for i, r in enumerate(held):
        src = (
            args.clipart_root / r["origin"]
            if r["source"] == "openclipart"
            else args.data / r["img"]
        )
        r["name"] = f"drawing_{i:05d}{src.suffix.lower()}"
        shutil.copyfile(src, folder / r["name"])
    return photos, held


def ranked(results, weight: float | None) -> list[str]:
    """File names of image hits, best first; re-fused with `weight` when given."""
    hits = [h for h in results if h.kind == "image"]
    if weight is not None:
        top = max((float(h.extra.get("bm25", 0.0)) for h in hits), default=0.0)

        def fused(h) -> float:  # type: ignore[no-untyped-def]
            lex = float(h.extra.get("bm25", 0.0)) / top if top > 0 else 0.0
            return float(h.extra.get("z", 0.0)) + weight * lex

        hits = sorted(hits, key=lambda h: -fused(h))
    return [Path(h.path).name for h in hits]


def recall(rankings: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    return {
        f"R@{k}": sum(bool(set(r[:k]) & rel) for r, rel in zip(rankings, relevant, strict=True))
        / max(len(relevant), 1)
        for k in KS
    }


def run(args: argparse.Namespace) -> dict:
    from searchengine import Index
    from searchengine.config import Settings
    from searchengine.query.fusion import TAG_WEIGHT

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as tmp:
        folder = Path(tmp) / "gallery"
        folder.mkdir()
        photos, held = gallery_folder(args, folder)
        settings = Settings(
            index_dir=Path(tmp) / "index",
            image_model=args.image_model,
            word_vectors=False,
            **({"model_cache": args.model_cache} if args.model_cache else {}),
        )
        with Index(settings) as index:
            index.add(folder)
            t_index = time.time() - t0

            def search(query: str, mode: str):  # type: ignore[no-untyped-def]
                return index.search(query, k=POOL, mode=mode, spaces={"image"})  # type: ignore[arg-type]

            out: dict[str, object] = {
                "image_model": args.image_model,
                "photos": len(photos),
                "drawings": len(held),
                "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
            }
            photo_tags: dict[str, list[str]] = {}
            for lang in ("ko", "en"):
                queries = [p[lang] for p in photos]
                relevant = [{p["name"]} for p in photos]
                rows: dict[str, dict[str, float]] = {}
                for mode in ("dense", "lexical"):
                    rows[mode] = recall([ranked(search(q, mode), None) for q in queries], relevant)
                hybrid = [search(q, "hybrid") for q in queries]
                rows[f"hybrid (product, w {TAG_WEIGHT:g})"] = recall(
                    [ranked(r, None) for r in hybrid], relevant
                )
                for w in WEIGHTS:
                    rows[f"hybrid re-ranked, w {w:g}"] = recall(
                        [ranked(r, w) for r in hybrid], relevant
                    )
                out[f"photos_{lang}"] = rows
                if lang == "ko":
                    for p, r in zip(photos, hybrid, strict=True):
                        hit = next((h for h in r if Path(h.path).name == p["name"]), None)
                        photo_tags[p["file"]] = [t.ko for t in hit.tags] if hit else []
            out["photo_tags"] = photo_tags
            tagged = sum(bool(v) for v in photo_tags.values())
            out["photos_with_tags"] = tagged

            by_concept: dict[str, set[str]] = defaultdict(set)
            rows_of: dict[str, list[dict]] = defaultdict(list)
            for r in held:
                by_concept[r["concept"]].add(r["name"])
                rows_of[r["concept"]].append(r)
            for lang in ("ko", "en"):
                q: dict[str, set[str]] = defaultdict(set)
                for concept, names in by_concept.items():
                    text = plain_name(concept) if lang == "en" else korean_query(rows_of[concept])
                    if text:
                        q[text] |= names
                texts = sorted(q)
                rel = [q[t] for t in texts]
                rows = {"dense": recall([ranked(search(t, "dense"), None) for t in texts], rel)}
                hybrid = [search(t, "hybrid") for t in texts]
                rows["hybrid"] = recall([ranked(r, None) for r in hybrid], rel)
                for w in WEIGHTS:
                    rows[f"w {w:g}"] = recall([ranked(r, w) for r in hybrid], rel)
                rows["queries"] = len(texts)  # type: ignore[assignment]
                out[f"drawings_{lang}"] = rows
    out["seconds_index"] = round(t_index, 1)
    out["seconds_total"] = round(time.time() - t0, 1)
    return out


def report(out: dict) -> None:
    print(
        f"{out['image_model']}: {out['photos']} photos + {out['drawings']} held-out drawings, "
        f"indexed in {out['seconds_index']} s ({out['machine']})"
    )
    for lang, name in (("ko", "Korean"), ("en", "English")):
        print(f"\n{name} photo captions (relevant: that photo; among all images)")
        print(f"  {'mode':<34}{'R@1':>7}{'R@5':>7}{'R@10':>7}")
        for mode, r in out[f"photos_{lang}"].items():
            print(f"  {mode:<34}{r['R@1']:>7.3f}{r['R@5']:>7.3f}{r['R@10']:>7.3f}")
    print("\nheld-out drawings, R@10 (same index)")
    for lang, name in (("ko", "Korean"), ("en", "English")):
        d = out[f"drawings_{lang}"]
        print(
            f"  {name:<8} {d['queries']:>5} queries: dense {d['dense']['R@10']:.3f}, "
            f"hybrid {d['hybrid']['R@10']:.3f}; re-ranked "
            + ", ".join(f"w {w:g} {d[f'w {w:g}']['R@10']:.3f}" for w in WEIGHTS)
        )
    print(f"\nphotos with a tag: {out['photos_with_tags']} of {out['photos']}")
    for name, tags in out["photo_tags"].items():
        print(f"  {name:<22} {', '.join(tags) or '-'}")
    print(f"({out['seconds_total']} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_common_args(ap)
    from searchengine.config import DEFAULT_IMAGE_MODEL

    ap.set_defaults(image_model=DEFAULT_IMAGE_MODEL)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="bench-photos-smoke-") as tmp:
            args.data = Path(tmp)
            args.clipart_root = smoke_data(args.data)
            out = run(args)
    else:
        out = run(args)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
