"""Held-out recall of the shipped semsearch CLIP, through the product's encoding path.

Protocol (also in searchengine/weights/MODEL_CARD.md):

* Gallery: every held-out image of training/data/manifest.jsonl (split "heldout":
  concepts that training never saw). Clip art is read from its original PNG under
  /usr/share/openclipart, emoji from their rendered glyph (96 px), both decoded by
  searchengine.models.images.load_image (transparency onto white, as the indexer does),
  then encoded by ImageEncoder.encode_images.
* Text -> image: one query per distinct query text. English: the concept's plain
  name (clip-art file-name caption, or the emoji's CLDR English name without skin
  tone). Korean: the emoji's CLDR Korean name (from the `emoji` package), or for
  clip art the glossary translation built by training/build_data.py. Relevant:
  every gallery image of a concept with that query text. R@K: share of queries
  with at least one relevant image among the top K of the whole gallery.
* Image -> image: every gallery image whose concept has another gallery image is
  a query; the rest of the gallery (itself removed) is searched; relevant: same
  concept. R@10 as above.
* "chance": the expected R@K of a random ranking, for scale.

    python training/build_data.py                  # once, builds the split
    python -m bench.bench_clip_recall [--json]
    python -m bench.bench_clip_recall --smoke      # the same, on a stand-in of 15 images

The model is the unit measured here, so the gallery and the queries go straight
through the product's image encoder (the one `searchengine.Index` loads for the
image space), not through an index.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLIPART_ROOT = Path("/usr/share/openclipart/png")
KS = (1, 5, 10)
SPEED_PICTURES = 64


def load_image(row: dict, data: Path, clipart_root: Path = CLIPART_ROOT) -> Image.Image:
    """Decode as the indexer does: upright RGB, transparency on white, <= 1024 px a side."""
    from searchengine.config import DEFAULT_MAX_IMAGE_SIDE
    from searchengine.models.images import load_image as product_load_image

    path = clipart_root / row["origin"] if row["source"] == "openclipart" else data / row["img"]
    return product_load_image(path, DEFAULT_MAX_IMAGE_SIDE)


# --smoke: a stand-in for training/data (which only a long build makes), from the
# repository's own pictures: (source, concept, Korean name, files)
SMOKE_GALLERY = [
    (
        "emoji",
        "car",
        "자동차",
        ["sample_corpus/images/car.png", "sample_corpus/images/old_car.png"],
    ),
    ("emoji", "cat", "고양이", ["sample_corpus/images/cat.png"]),
    ("emoji", "dog", "강아지", ["sample_corpus/images/dog.png", "sample_corpus/images/beagle.png"]),
    ("emoji", "pizza", "피자", ["sample_corpus/images/pizza.png"]),
    ("emoji", "cake", "케이크", ["sample_corpus/images/cake.png"]),
    ("emoji", "hamburger", "햄버거", ["sample_corpus/images/hamburger.png"]),
    (
        "openclipart",
        "car",
        "승용차",
        ["tests/data/query_images/car_query.png", "tests/data/query_images/car_query_red.png"],
    ),
    ("openclipart", "airplane", "비행기", ["sample_corpus/images/airplane.png"]),
    ("openclipart", "bicycle", "자전거", ["sample_corpus/images/bicycle.png"]),
    ("openclipart", "house", "집", ["sample_corpus/images/house.png"]),
    ("openclipart", "tulip", "튤립", ["sample_corpus/images/tulip.png"]),
    ("openclipart", "coffee", "커피", ["sample_corpus/images/coffee_photo.jpg"]),
]


def smoke_data(folder: Path) -> Path:
    """Write a tiny training/data stand-in into `folder` (manifest.jsonl, images, clip art);
    returns the clip-art root to use."""
    clipart = folder / "clipart"
    rows = []
    for source, name, korean, files in SMOKE_GALLERY:
        for i, rel in enumerate(files):
            src = ROOT / rel
            row: dict[str, object] = {
                "split": "heldout",
                "source": source,
                "concept": f"{source}:{name}",
                "captions": [{"lang": "en", "text": name}, {"lang": "ko", "text": korean}],
            }
            if source == "openclipart":
                dest = clipart / name / f"{i}{src.suffix}"
                row["origin"] = str(dest.relative_to(clipart))
            else:
                dest = folder / "images" / f"{name}-{i}{src.suffix}"
                row["img"] = str(dest.relative_to(folder))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            rows.append(row)
    with (folder / "manifest.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return clipart


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """The options this bench and bench/calibrate_image_match.py share."""
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="semsearch model cache (default: the data folder's models/)",
    )
    ap.add_argument("--clipart-root", type=Path, default=CLIPART_ROOT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--image-model", default="semsearch-clip", help="a shipped image model preset")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="a quick run on a stand-in gallery of the repository's pictures (a check, "
        "not a measurement)",
    )


def plain_name(concept: str) -> str:
    return concept.split(":", 1)[1]


def korean_query(rows: list[dict]) -> str | None:
    """The Korean caption of a concept: the base (no skin tone) image's, else the first."""
    kos = [next((c["text"] for c in r["captions"] if c["lang"] == "ko"), None) for r in rows]
    kos = [k for k in kos if k]
    if not kos:
        return None
    return min(kos, key=len)


def chance_recall(n: int, r: int, k: int) -> float:
    """P(at least one of r relevant items in the top k of a random ranking of n)."""
    if r <= 0:
        return 0.0
    if n - r < k:
        return 1.0
    return 1.0 - math.comb(n - r, k) / math.comb(n, k)


def recall(sims: np.ndarray, relevant: list[set[int]], n_gallery: int) -> dict[str, float]:
    order = np.argsort(-sims, axis=1, kind="stable")[:, : max(KS)]
    out: dict[str, float] = {}
    pairs = list(zip(order, relevant, strict=True))
    for k in KS:
        out[f"R@{k}"] = float(np.mean([bool(set(row[:k].tolist()) & rel) for row, rel in pairs]))
    for k in KS:
        out[f"chance@{k}"] = float(
            np.mean([chance_recall(n_gallery, len(rel), k) for rel in relevant])
        )
    return out


def text_to_image(
    queries: dict[str, set[int]], vectors: dict[str, np.ndarray], gallery: np.ndarray
) -> dict[str, float]:
    texts = sorted(queries)
    qv = np.stack([vectors[t] for t in texts])
    res = recall(qv @ gallery.T, [queries[t] for t in texts], len(gallery))
    res["queries"] = len(texts)
    return res


def make_encoder(model_cache: Path, model: str = "semsearch-clip"):  # type: ignore[no-untyped-def]
    """The product's image encoder for `model`, built as the image space builds it."""
    from searchengine.config import Settings
    from searchengine.models.spaces import load_image_encoder

    encoder = load_image_encoder(model, Settings(model_cache=model_cache, image_batch=64))
    return encoder, encoder.source


def encode_heldout(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The held-out rows, the encoder, its source, the gallery vectors, the images of
    each concept, and the seconds the gallery took (model load + decode + encode)."""
    import torch

    torch.set_num_threads(args.threads)
    manifest = args.data / "manifest.jsonl"
    if not manifest.is_file():
        sys.exit(f"{manifest} is missing: run training/build_data.py first")
    if args.model_cache is None:
        from searchengine.config import data_home

        args.model_cache = data_home() / "models"
    rows = [json.loads(line) for line in manifest.open(encoding="utf-8")]
    held = [r for r in rows if r["split"] == "heldout"]

    t0 = time.time()
    encoder, src = make_encoder(args.model_cache, args.image_model)
    gallery = encoder.encode_images([load_image(r, args.data, args.clipart_root) for r in held])
    seconds = time.time() - t0

    by_concept: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(held):
        by_concept[r["concept"]].append(i)
    return held, encoder, src, gallery, by_concept, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_common_args(ap)
    args = ap.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="clip-recall-smoke-") as tmp:
            args.data = Path(tmp)
            args.clipart_root = smoke_data(args.data)
            return run(args)
    return run(args)


def run(args: argparse.Namespace) -> int:
    t0 = time.time()
    held, encoder, src, gallery, by_concept, t_img = encode_heldout(args)

    def queries(lang: str, source: str | None = None) -> dict[str, set[int]]:
        q: dict[str, set[int]] = defaultdict(set)
        for concept, idx in by_concept.items():
            if source and held[idx[0]]["source"] != source:
                continue
            text = plain_name(concept) if lang == "en" else korean_query([held[i] for i in idx])
            if text:
                q[text].update(idx)
        return q

    results: dict[str, object] = {
        "model": src.name,
        "where": src.where,
        "gallery_images": len(held),
        "gallery_concepts": len(by_concept),
        "gallery_by_source": {
            s: sum(r["source"] == s for r in held) for s in ("openclipart", "emoji")
        },
    }
    t1 = time.time()
    all_texts = sorted(set(queries("ko")) | set(queries("en")))
    vectors = dict(zip(all_texts, encoder.encode_texts(all_texts), strict=True))
    t_txt = time.time() - t1
    for lang in ("ko", "en"):
        results[f"text2image_{lang}"] = text_to_image(queries(lang), vectors, gallery)
        for source in ("emoji", "openclipart"):
            results[f"text2image_{lang}_{source}"] = text_to_image(
                queries(lang, source), vectors, gallery
            )

    sims = gallery @ gallery.T
    np.fill_diagonal(sims, -np.inf)
    for source in (None, "emoji", "openclipart"):
        q_idx = [
            i
            for i, r in enumerate(held)
            if len(by_concept[r["concept"]]) > 1 and source in (None, r["source"])
        ]
        rel = [set(by_concept[held[i]["concept"]]) - {i} for i in q_idx]
        i2i = recall(sims[q_idx], rel, len(held) - 1)
        i2i["queries"] = len(q_idx)
        results["image2image" + (f"_{source}" if source else "")] = i2i
    # encoding speed of the loaded model: decoded pictures, the product's batch path
    pictures = [load_image(r, args.data, args.clipart_root) for r in held[:SPEED_PICTURES]]
    runs = []
    for _ in range(3):
        t1 = time.perf_counter()
        encoder.encode_images(pictures)
        runs.append(time.perf_counter() - t1)
    results["ms_per_picture"] = round(1000 * min(runs) / len(pictures), 2)
    results["threads"] = args.threads
    results["seconds"] = round(time.time() - t0, 1)
    results["seconds_gallery"] = round(t_img, 1)  # model load + decode + encode
    results["seconds_queries"] = round(t_txt, 1)

    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    print(f"{results['model']} held-out recall ({results['where']})")
    print(
        f"gallery: {len(held)} held-out images of {len(by_concept)} concepts "
        f"{results['gallery_by_source']}"
    )
    print(f"{'task':<34}{'queries':>8}{'R@1':>8}{'R@5':>8}{'R@10':>8}   chance R@10")
    for key, label in [
        ("text2image_ko", "text->image, Korean queries"),
        ("text2image_ko_emoji", "  emoji (CLDR Korean names)"),
        ("text2image_ko_openclipart", "  clip art (glossary Korean)"),
        ("text2image_en", "text->image, English queries"),
        ("text2image_en_emoji", "  emoji"),
        ("text2image_en_openclipart", "  clip art"),
        ("image2image", "image->image (same concept)"),
        ("image2image_emoji", "  emoji (mostly skin-tone variants)"),
        ("image2image_openclipart", "  clip art"),
    ]:
        r = results[key]
        assert isinstance(r, dict)
        print(
            f"{label:<34}{r['queries']:>8}{r['R@1']:>8.3f}{r['R@5']:>8.3f}{r['R@10']:>8.3f}"
            f"   {r['chance@10']:.3f}"
        )
    print(
        f"encoding speed: {results['ms_per_picture']} ms/picture (best of 3 passes over "
        f"{min(SPEED_PICTURES, len(held))} decoded pictures, {args.threads} threads, "
        f"{platform.machine()})"
    )
    print(f"({results['seconds']}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
