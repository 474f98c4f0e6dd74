"""Write the demo pictures (sample_corpus/images) and the test query pictures.

Every clip-art or emoji picture written here belongs to a held-out concept of
training/data/manifest.jsonl (checked below), so the shipped CLIP never saw it
in training. Two real photos from scikit-image (CC0) are added to the demo
corpus as out-of-domain material. Transparent pictures are flattened onto white
(clip art is first trimmed to the drawing, as in training).

    python training/build_data.py && python training/make_samples.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data"
CLIPART_ROOT = Path("/usr/share/openclipart/png")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")

# file name -> manifest origin (clip-art path or emoji code points)
SAMPLES = {
    "car.png": "U+1F697",
    "old_car.png": "transportation/old_car_lumen_design_st_r.png",
    "dog.png": "U+1F415",
    "beagle.png": "animals/mammals/dogs/beagle_copper_ganson.png",
    "cat.png": "U+1F408",
    "pizza.png": "U+1F355",
    "hamburger.png": "U+1F354",
    "cake.png": "food/desserts/cake1_jarno_vasamaa_01.png",
    "airplane.png": "U+2708_FE0F",
    "bicycle.png": "U+1F6B2",
    "house.png": "U+1F3E0",
    "tulip.png": "U+1F337",
}
QUERIES = {
    "car_query.png": "U+1F698",
    "car_query_red.png": "transportation/redcar_marcelo_caiafa_.png",
    "car_query_skoda.png": "transportation/skoda_car_alejandro_teja_.png",
}
PHOTOS = {"chelsea_cat_photo.jpg": "chelsea", "coffee_photo.jpg": "coffee"}


def on_white(im: Image.Image) -> Image.Image:
    im = im.convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, im).convert("RGB")


def emoji_picture(origin: str) -> Image.Image:
    ch = "".join(chr(int(cp, 16)) for cp in origin[2:].split("_"))
    font = ImageFont.truetype(str(EMOJI_FONT), 109)
    canvas = Image.new("RGBA", (200, 180), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((20, 20), ch, font=font, embedded_color=True)
    ys, xs = np.nonzero(np.asarray(canvas)[..., 3] > 8)
    x0, x1, y0, y1 = xs.min() - 8, xs.max() + 9, ys.min() - 8, ys.max() + 9
    return on_white(canvas.crop((int(x0), int(y0), int(x1), int(y1))))


def clipart_picture(origin: str, max_side: int = 320) -> Image.Image:
    with Image.open(CLIPART_ROOT / origin) as im:
        rgba = im.convert("RGBA")
    ys, xs = np.nonzero(np.asarray(rgba)[..., 3] > 8)  # trim the empty canvas around the drawing
    pad = int(0.06 * max(xs.max() - xs.min(), ys.max() - ys.min()))
    box = (
        max(0, xs.min() - pad),
        max(0, ys.min() - pad),
        min(rgba.width, xs.max() + pad + 1),
        min(rgba.height, ys.max() + pad + 1),
    )
    out = on_white(rgba.crop(tuple(int(v) for v in box)))
    out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return out


def main() -> int:
    rows = {
        r["origin"]: r for r in map(json.loads, (DATA / "manifest.jsonl").open(encoding="utf-8"))
    }
    sample_dir = ROOT / "sample_corpus" / "images"
    query_dir = ROOT / "tests" / "data" / "query_images"
    sample_dir.mkdir(parents=True, exist_ok=True)
    query_dir.mkdir(parents=True, exist_ok=True)
    for folder, table in ((sample_dir, SAMPLES), (query_dir, QUERIES)):
        for name, origin in table.items():
            row = rows.get(origin)
            if row is None or row["split"] != "heldout":
                sys.exit(f"{origin} is not a held-out picture of the manifest")
            im = emoji_picture(origin) if origin.startswith("U+") else clipart_picture(origin)
            im.save(folder / name, optimize=True)
            print(
                f"{folder.relative_to(ROOT)}/{name}\t{origin}\t{row['concept']}\t{row['captions'][0]['text']}"
            )
    from skimage import data

    for name, attr in PHOTOS.items():
        im = Image.fromarray(getattr(data, attr)())
        im.thumbnail((512, 512), Image.Resampling.LANCZOS)
        im.save(sample_dir / name, quality=90, optimize=True)
        print(f"sample_corpus/images/{name}\tskimage.data.{attr}()")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
