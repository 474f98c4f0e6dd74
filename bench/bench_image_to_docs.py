"""Search by example's documents: which way finds the document about a picture?

Indexes `sample_corpus/` once and asks each labelled picture of
`evalsets/image-to-docs/pictures.tsv` for documents (`spaces={"text"}`), with
`Settings.image_to_documents` set to each way:

- `vector`: the picture's vector searched in the text space (the shipped image
  towers are trained against the text model's own vectors);
- `tags`: the picture's confident labels (Korean and English) as a text query.

Prints recall@1 and MRR over the 7 documents for each, with the machine. Run:
    python -m bench.bench_image_to_docs [--image-model NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from searchengine import Encoders, Index, Settings
from searchengine.config import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from searchengine.models.spaces import load_image_encoder, load_text_encoder

REPO = Path(__file__).resolve().parent.parent
QRELS = REPO / "evalsets" / "image-to-docs" / "pictures.tsv"
WAYS = ("vector", "tags", "both")


def labelled(limit: int | None) -> list[tuple[Path, str]]:
    rows = QRELS.read_text(encoding="utf-8").splitlines()[1:]
    pairs = [(REPO / a, b) for a, b in (r.split("\t") for r in rows if r.strip())]
    return pairs[:limit] if limit else pairs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-model", default=None, help="image model (default: the default)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="3 pictures, to check the script runs")
    args = ap.parse_args()
    pairs = labelled(3 if args.smoke else None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings(index_dir=Path(tmp) / "index", image_model=args.image_model)
        text = load_text_encoder(DEFAULT_TEXT_MODEL, base)
        image = load_image_encoder(args.image_model or DEFAULT_IMAGE_MODEL, base)
        encoders = Encoders(text=text, image=image)
        with Index.open(settings=base, encoders=encoders) as index:
            index.add(REPO / "sample_corpus")
        report: dict[str, dict[str, float]] = {}
        per_image: dict[str, dict[str, int | None]] = {}
        for way in WAYS:
            settings = replace(base, image_to_documents=way)
            first = mrr = 0.0
            with Index.open(settings=settings, encoders=encoders) as index:
                for picture, relevant in pairs:
                    hits = index.search(image=picture, k=7, spaces={"text"})
                    docs = [Path(h.path).name for h in hits]
                    rank = docs.index(relevant) + 1 if relevant in docs else None
                    per_image.setdefault(str(picture.relative_to(REPO)), {})[way] = rank
                    first += rank == 1
                    mrr += 1.0 / rank if rank else 0.0
            n = len(pairs)
            report[way] = {"recall@1": round(first / n, 3), "mrr": round(mrr / n, 3)}
    out = {
        "pictures": len(pairs),
        "image_model": image.name,
        "ways": report,
        "ranks": per_image,
        "seconds": round(time.monotonic() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"{len(pairs)} pictures, image model {image.name}, {out['machine']}")
        for way, m in report.items():
            print(f"  {way:7} recall@1 {m['recall@1']:.3f}  MRR {m['mrr']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
