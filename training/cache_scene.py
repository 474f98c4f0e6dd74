"""Photo-like training views for semsearch-clip-lite0: every training drawing pasted onto a
background photograph, run through the frozen ImageNet Lite0 trunk and cached like
cache_lite0.py's views (pooled features + ImageNet logits), so that train_lite0.py
(``--scene``) can train the head on drawings seen "in a scene" and not only on white.

The drawings keep their captions. Backgrounds are textures and scenery without a salient
object, from packages that install offline and NOT used by evalsets/photos:
scikit-image (grass, gravel, brick, moon: CC0 / public domain), Debian
lomiri-wallpapers-16.04/-20.04 (Bridge_by_Sander_Klootwijk, Infinite-Sea_by_Aury88) and
mate-backgrounds (nature/Blinds.jpg, nature/Wood.jpg, desktop/GreenTraditional.jpg),
plus smooth random colour gradients. Per view: a random crop of a random background
(or a gradient, 20 %), the drawing (premultiplied alpha) scaled to 35-85 % of the
frame at a random position, random flip where allowed, brightness/contrast jitter.
Deterministic for a seed. bf16 autocast.

    python training/cache_scene.py --views 2     # ~3-8 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lite0  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from cache_lite0 import frozen_forward  # noqa: E402
from PIL import Image  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
BACKGROUNDS = [
    "skimage:grass.png",
    "skimage:gravel.png",
    "skimage:brick.png",
    "skimage:moon.png",
    "/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg",
    "/usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg",
    "/usr/share/backgrounds/mate/nature/Blinds.jpg",
    "/usr/share/backgrounds/mate/nature/Wood.jpg",
    "/usr/share/backgrounds/mate/desktop/GreenTraditional.jpg",
]
S = lite0.SIZE


def load_backgrounds() -> list[torch.Tensor]:
    import skimage

    out = []
    for b in BACKGROUNDS:
        path = (
            Path(skimage.__file__).parent / "data" / b[8:] if b.startswith("skimage:") else Path(b)
        )
        Image.MAX_IMAGE_PIXELS = None
        im = Image.open(path)
        im.draft("RGB", (1024, 1024))
        im = im.convert("RGB")
        im.thumbnail((768, 768), Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return out


def scene_batch(
    rgba: torch.Tensor, flip_ok: torch.Tensor, bgs: list[torch.Tensor], gen: torch.Generator
) -> torch.Tensor:
    b = rgba.shape[0]
    x = rgba.float() / 255.0
    a = x[:, 3:4]
    fg = torch.cat([x[:, :3] * a, a], 1)
    out = torch.empty(b, 3, S, S)

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(1, generator=gen).item()

    for i in range(b):
        if torch.rand(1, generator=gen).item() < 0.2:  # smooth random gradient
            c0, c1 = torch.rand(3, generator=gen), torch.rand(3, generator=gen)
            t = (
                torch.linspace(0, 1, S).view(1, S, 1)
                if u(0, 1) < 0.5
                else torch.linspace(0, 1, S).view(1, 1, S)
            )
            bg = (c0.view(3, 1, 1) * (1 - t) + c1.view(3, 1, 1) * t).expand(3, S, S).clone()
        else:
            src = bgs[int(torch.randint(len(bgs), (1,), generator=gen))]
            if src.shape[0] == 1:
                src = src.expand(3, -1, -1)
            h, w = src.shape[1:]
            side = int(min(h, w) * u(0.4, 1.0))
            y0 = int((h - side) * u(0, 1))
            x0 = int((w - side) * u(0, 1))
            bg = F.interpolate(
                src[None, :, y0 : y0 + side, x0 : x0 + side],
                size=(S, S),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
        scale = u(0.35, 0.85)
        d = max(8, int(S * scale))
        f = F.interpolate(
            fg[i : i + 1], size=(d, d), mode="bilinear", antialias=True, align_corners=False
        )[0]
        if flip_ok[i] and u(0, 1) < 0.5:
            f = f.flip(-1)
        py, px = int((S - d) * u(0, 1)), int((S - d) * u(0, 1))
        region = bg[:, py : py + d, px : px + d]
        bg[:, py : py + d, px : px + d] = f[:3] + (1 - f[3:4]) * region
        bg = bg * u(0.85, 1.15)
        m = bg.mean()
        bg = (bg - m) * u(0.85, 1.15) + m
        out[i] = bg.clamp(0, 1)
    return (out * 255.0 - 127.0) / 128.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=DATA / "lite0_cache_scene")
    ap.add_argument("--preview", type=Path, default=None, help="save a few views as PNG here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").open(encoding="utf-8")]
    pix = np.load(DATA / "images224.npy", mmap_mode="r")
    bgs = load_backgrounds()
    jobs = [(r["id"], 100 + v) for v in range(args.views) for r in rows if r["split"] == "train"]
    n = len(jobs)
    pooled = np.zeros((n, 1280), np.float16)
    logits = np.zeros((n, 1000), np.float16)
    flip_ok = torch.tensor([r["flip_ok"] for r in rows])
    m = lite0.imagenet_lite0()
    t0 = time.time()
    with torch.no_grad():
        for bi, s in enumerate(range(0, n, args.batch)):
            e = min(n, s + args.batch)
            ids = torch.tensor([j[0] for j in jobs[s:e]])
            rgba = torch.from_numpy(np.stack([pix[i] for i in ids.tolist()])).permute(0, 3, 1, 2)
            x = scene_batch(rgba, flip_ok[ids], bgs, gen)
            if args.preview and bi == 0:
                args.preview.mkdir(parents=True, exist_ok=True)
                for k in range(8):
                    arr = (x[k] * 128 + 127).clamp(0, 255).byte().permute(1, 2, 0).numpy()
                    Image.fromarray(arr).save(args.preview / f"scene_{k}.png")
            with torch.autocast("cpu", dtype=torch.bfloat16):
                _, b, c = frozen_forward(m, x)
            pooled[s:e] = b.float().numpy().astype(np.float16)
            logits[s:e] = c.float().numpy().astype(np.float16)
            if bi % 20 == 0:
                el = time.time() - t0
                print(f"{e}/{n} views, {el:.0f}s, eta {el / e * (n - e):.0f}s", flush=True)
    np.save(args.out / "pooled.npy", pooled)
    np.save(args.out / "logits.npy", logits)
    np.save(args.out / "index.npy", np.array(jobs, dtype=np.int32))
    print(f"done: {n} views in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
