"""Re-render the training/held-out pictures of training/build_data.py at 224 px for the
EfficientNet-Lite0 tower (build_data.py stores 96 px, enough for the old 64 px tower).

Reads training/data/manifest.jsonl (run build_data.py first) and, for each row in order,
draws the same picture the same way (clip art: the PNG under /usr/share/openclipart/png,
cropped to its drawing and padded to a transparent square; emoji: the Noto Color Emoji
glyph drawn by Pillow at size 109), resized to 224x224 RGBA with Lanczos. Writes
training/data/images224.npy, uint8 (N, 224, 224, 4) in manifest order (~1.7 GB).

    python training/build_data224.py      # ~2-3 min on 2 cores
"""

from __future__ import annotations

import io
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_data as bd  # noqa: E402

SIZE = 224
DATA = Path(__file__).resolve().parent / "data"
_FONT = None


def render(row: dict) -> np.ndarray:
    global _FONT
    Image.MAX_IMAGE_PIXELS = 120_000_000  # build_data.py's limit (it skipped larger files)
    if row["source"] == "emoji":
        if _FONT is None:
            _FONT = ImageFont.truetype(str(bd.EMOJI_FONT), 109)
        ch = "".join(chr(int(h, 16)) for h in row["origin"][2:].split("_"))
        canvas = Image.new("RGBA", (480, 170), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((10, 10), ch, font=_FONT, embedded_color=True)
        img = bd.square_rgba(canvas, SIZE)
    else:
        root = bd.TUXPAINT_ROOT if row["source"] == "tuxpaint" else bd.CLIPART_ROOT
        data = (root / row["origin"]).read_bytes()
        with Image.open(io.BytesIO(data)) as raw:
            img = bd.square_rgba(raw, SIZE)
    return np.asarray(img, dtype=np.uint8)


def main() -> int:
    t0 = time.time()
    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").open(encoding="utf-8")]
    out = np.lib.format.open_memmap(
        DATA / "images224.tmp.npy", mode="w+", dtype=np.uint8, shape=(len(rows), SIZE, SIZE, 4)
    )
    with Pool(2) as pool:
        for i, arr in enumerate(pool.imap(render, rows, chunksize=16)):
            out[i] = arr
            if i % 1000 == 0:
                print(f"{i}/{len(rows)} {time.time() - t0:.0f}s", flush=True)
    out.flush()
    del out
    (DATA / "images224.tmp.npy").replace(DATA / "images224.npy")
    print(f"wrote {len(rows)} images to {DATA / 'images224.npy'} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
