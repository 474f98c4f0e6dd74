"""Full-frame photo views made from the captioned photographic stamps (issue 26): each
training-split stamp of cache_photos.py's ``captioned_sources`` (Tux Paint photographic
cut-outs with their own Korean/English descriptions) pasted onto a photographic
background, so that the head sees captioned pictures that look like photos end to end
(a cow on a landscape) and not only like cut-outs on white. Cached like cache_photos.py
(pooled features + ImageNet logits of the frozen Lite0 trunk); train_lite0.py
``--stamp-scenes`` adds these rows to its photo pool, where they take the stamp's captions.

Backgrounds: cache_scene.py's textures and scenery (scikit-image grass, gravel, brick,
moon; lomiri / mate wallpapers) plus the nine KDE photo wallpapers of
training/photo_sources.txt (plasma-workspace-wallpapers: landscapes, water, leaves), none
of them a picture of evalsets/photos. Per view: a random square crop of a random
background (no gradients), the stamp scaled to 45-95 % of the frame at a random
position, flip 50 %, brightness / contrast jitter (as cache_scene.py). Held-out
stamps are never rendered. Deterministic for a seed; bf16 autocast.

Writes training/data/lite0_cache_stamp_scenes/{pooled,logits,index}.npy, index rows =
(source number of photo_sources.txt, 100 + view).

    python training/cache_stamp_scenes.py --views 8     # ~3-6 min on 2 cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cache_photos  # noqa: E402
import cache_scene  # noqa: E402
import lite0  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from cache_lite0 import frozen_forward  # noqa: E402
from PIL import Image  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
KDE = "/usr/share/wallpapers/"


def backgrounds() -> list[torch.Tensor]:
    out = cache_scene.load_backgrounds()
    for s in cache_photos.read_sources():
        if s["file"].startswith(KDE):
            im = cache_photos.load(Path(s["file"]))
            im.thumbnail((768, 768), Image.Resampling.LANCZOS)
            out.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=DATA / "lite0_cache_stamp_scenes")
    ap.add_argument("--preview", type=Path, default=None, help="save a few views as PNG here")
    ap.add_argument(
        "--write-heldout",
        type=Path,
        default=None,
        help="only write one scene per held-out stamp as PNG here (an evaluation set for "
        "eval_photos.py), seed --seed + 1000",
    )
    args = ap.parse_args(argv)
    if args.write_heldout:
        return write_heldout(args.write_heldout, args.seed + 1000)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    sources = cache_photos.captioned_sources()
    bgs = backgrounds()
    m = lite0.imagenet_lite0()
    jobs, pooled, logits, pending = [], [], [], []
    t0 = time.time()

    def run(force: bool = False) -> None:
        while len(pending) >= args.batch or (force and pending):
            x = torch.cat(pending[: args.batch])
            del pending[: args.batch]
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                _, b, c = frozen_forward(m, x)
            pooled.append(b.float().numpy().astype(np.float16))
            logits.append(c.float().numpy().astype(np.float16))

    for si, s in enumerate(sources):
        if s["kind"] != "stamp" or s["split"] != "train":
            continue
        sq = cache_photos.stamp_square(
            cache_photos.load(cache_photos.resolve(s["file"]), rgba=True)
        )
        for v in range(args.views):
            x = composite(sq, bgs, gen)
            if args.preview and len(jobs) < 12:
                args.preview.mkdir(parents=True, exist_ok=True)
                arr = (x[0] * 128 + 127).clamp(0, 255).byte().permute(1, 2, 0).numpy()
                Image.fromarray(arr).save(args.preview / f"stamp_scene_{len(jobs)}.png")
            pending.append(x)
            jobs.append((si, 100 + v))
        run()
        if len(jobs) % 400 < args.views:
            print(
                f"{si + 1}/{len(sources)} sources, {len(jobs)} views, {time.time() - t0:.0f}s",
                flush=True,
            )
    run(force=True)
    pooled_a, logits_a = np.concatenate(pooled), np.concatenate(logits)
    assert len(pooled_a) == len(jobs)
    np.save(args.out / "pooled.npy", pooled_a)
    np.save(args.out / "logits.npy", logits_a)
    np.save(args.out / "index.npy", np.array(jobs, dtype=np.int32))
    print(f"done: {len(jobs)} views in {time.time() - t0:.0f}s", flush=True)
    return 0


def write_heldout(out: Path, seed: int) -> int:
    gen = torch.Generator().manual_seed(seed)
    bgs = backgrounds()
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for si, s in enumerate(cache_photos.captioned_sources()):
        if s["kind"] != "stamp" or s["split"] != "heldout":
            continue
        sq = cache_photos.stamp_square(
            cache_photos.load(cache_photos.resolve(s["file"]), rgba=True)
        )
        x = composite(sq, bgs, gen)[0]
        arr = (x * 128 + 127).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(out / f"{si:03d}.png")
        n += 1
    print(f"wrote {n} held-out scenes to {out}")
    return 0


def composite(sq: torch.Tensor, bgs: list[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
    """One view: uint8 (4, S, S) stamp on a random crop of a random photo background."""
    import torch.nn.functional as F

    S = lite0.SIZE

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(1, generator=gen).item()

    src = bgs[int(torch.randint(len(bgs), (1,), generator=gen))]
    if src.shape[0] == 1:
        src = src.expand(3, -1, -1)
    h, w = src.shape[1:]
    side = int(min(h, w) * u(0.4, 1.0))
    y0, x0 = int((h - side) * u(0, 1)), int((w - side) * u(0, 1))
    bg = F.interpolate(
        src[None, :, y0 : y0 + side, x0 : x0 + side],
        size=(S, S),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )[0]
    x = sq.float() / 255.0
    a = x[3:4]
    fg = torch.cat([x[:3] * a, a])[None]
    d = max(8, int(S * u(0.45, 0.95)))
    f = F.interpolate(fg, size=(d, d), mode="bilinear", antialias=True, align_corners=False)[0]
    if u(0, 1) < 0.5:
        f = f.flip(-1)
    py, px = int((S - d) * u(0, 1)), int((S - d) * u(0, 1))
    region = bg[:, py : py + d, px : px + d]
    bg[:, py : py + d, px : px + d] = f[:3] + (1 - f[3:4]) * region
    bg = bg * u(0.85, 1.15)
    mu = bg.mean()
    bg = (bg - mu) * u(0.85, 1.15) + mu
    return ((bg.clamp(0, 1) * 255.0 - 127.0) / 128.0)[None]


if __name__ == "__main__":
    sys.exit(main())
