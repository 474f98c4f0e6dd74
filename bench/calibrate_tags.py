"""Calibrate the image-tag threshold on hand-judged tags (evalsets/tags/judged.tsv).

Tags every judged picture with the model at threshold 0, joins its labels with
the judgements, and prints, for each threshold, how many judged labels are
kept and what share of them is right. The product's threshold is the lowest
one whose precision is at least --precision (default 0.8). With --domain, only the
judged pictures that the domain probe (models/domain.py, on the tower's pooled
features) puts in that domain: drawings keep tags only if a threshold is that precise
on them. Run:
    python -m bench.calibrate_tags [--image-model semsearch-clip-lite0] [--domain drawing] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import replace
from pathlib import Path

from searchengine.config import Settings
from searchengine.models import domain
from searchengine.models import tags as tagging
from searchengine.models.image_encoder import ImageEncoder
from searchengine.models.images import load_image
from searchengine.models.presets import resolve_image_model
from searchengine.models.sources import ImageSource

REPO = Path(__file__).resolve().parent.parent
JUDGED = REPO / "evalsets" / "tags" / "judged.tsv"
THRESHOLDS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def of_domain(pictures: list[str], wanted: str, source: ImageSource) -> list[str]:
    """The pictures whose domain, as the product judges it at indexing, is `wanted`."""
    _, _, judged = ImageEncoder(source).encode_and_label(
        [load_image(REPO / p, 1024) for p in pictures]
    )
    return [p for p, d in zip(pictures, judged, strict=True) if d == wanted]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-model", default="semsearch-clip-lite0")
    ap.add_argument("--precision", type=float, default=0.8)
    ap.add_argument(
        "--labels",
        choices=["all", "classes", "categories"],
        default="all",
        help="judge ImageNet class labels, everyday categories, or both",
    )
    ap.add_argument("--domain", choices=domain.CLASSES, help="judge this domain's pictures only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="5 pictures, to check the script runs")
    args = ap.parse_args()
    rows = [r.split("\t") for r in JUDGED.read_text(encoding="utf-8").splitlines()[1:] if r]
    judged = {(img, tag): right == "1" for img, tag, right in rows}
    pictures = sorted({img for img, _ in judged})[: 5 if args.smoke else None]
    source = resolve_image_model(args.image_model, Settings().model_cache)
    if args.domain is not None:
        pictures = of_domain(pictures, args.domain, source)
    # every tag, drawings' too: this judges them
    encoder = ImageEncoder(replace(source, tag_threshold=0.0), domains=False)
    # every label, not only the few a picture keeps: the threshold decides what is kept
    tagging.MAX_TAGS = tagging.MAX_CATEGORY_TAGS = 1000
    _, tags = encoder.encode_and_tag([load_image(REPO / p, 1024) for p in pictures])
    category_names = {c.en for c in tagging.categories()}
    wanted = {
        "all": lambda t: True,
        "classes": lambda t: t.en not in category_names,
        "categories": lambda t: t.en in category_names,
    }[args.labels]
    scored = [
        (t.score, judged[(p, t.en)])
        for p, ts in zip(pictures, tags, strict=True)
        for t in ts
        if (p, t.en) in judged and wanted(t)
    ]
    table = []
    for th in THRESHOLDS:
        kept = [right for score, right in scored if score >= th]
        precision = sum(kept) / len(kept) if kept else 1.0
        table.append(
            {"threshold": th, "kept": len(kept), "right": sum(kept), "precision": precision}
        )
    chosen = next((r["threshold"] for r in table if r["precision"] >= args.precision), None)
    out = {
        "image_model": args.image_model,
        "labels": args.labels,
        "domain": args.domain,
        "pictures": len(pictures),
        "judged_labels": len(scored),
        "table": table,
        "chosen": chosen,
        "machine": f"{platform.machine()}",
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{args.image_model}: {len(scored)} judged labels ({args.labels}) "
            f"on {len(pictures)} pictures" + (f" ({args.domain})" if args.domain else "")
        )
        for r in table:
            print(
                f"  p >= {r['threshold']:.2f}: {r['kept']:3} kept, {r['right']:3} right, "
                f"precision {r['precision']:.2f}"
            )
        print(f"lowest threshold with precision >= {args.precision}: {chosen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
