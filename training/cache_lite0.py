"""Cache the frozen part of the ImageNet EfficientNet-Lite0 over the training pictures,
so that each training run of train_lite0.py trains only the top blocks and the head.

For every picture of training/data/images224.npy (build_data224.py) and a number of
views (view 0: the plain picture on white, the evaluation view; views 1..V-1: random
augmentations from train_clip.augment, seeded, for training pictures only), writes
under training/data/lite0_cache/:

* ``mid.npy``     float16 (N_views, 112, 14, 14): output of trunk blocks 0-4 (the cut;
  train_lite0.py trains blocks 5, 6, conv_head, bn2 and the projection on top);
* ``pooled.npy``  float16 (N_views, 1280): the frozen ImageNet trunk's pooled features;
* ``logits.npy``  float16 (N_views, 1000): its ImageNet logits (for the ConSE targets);
* ``index.npy``   int32 (N_views, 2): (manifest id, view) of each row.

View 0 runs in fp32, augmented views under bf16 autocast (half the time where the CPU has
bfloat16 instructions; they are training inputs only). ``--fp32``: augmented views in fp32
as well, for CPUs without bfloat16 (AVX2 only), where autocast is several times slower.
Deterministic for a given seed.

    python training/cache_lite0.py --views 4      # ~10 min on 2 cores
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
from train_clip import MEAN as CLIP_MEAN  # noqa: E402
from train_clip import STD as CLIP_STD  # noqa: E402
from train_clip import augment  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
CUT = 5  # trunk.blocks[:CUT] are frozen and cached


def frozen_forward(m, x):
    h = m.bn1(m.conv_stem(x))
    for i in range(CUT):
        h = m.blocks[i](h)
    mid = h
    for i in range(CUT, len(m.blocks)):
        h = m.blocks[i](h)
    pooled = m.global_pool(m.bn2(m.conv_head(h)))
    return mid, pooled, m.classifier(pooled)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=DATA / "lite0_cache")
    ap.add_argument(
        "--fp32",
        action="store_true",
        help="augmented views in fp32 too (for CPUs without native bfloat16: several times faster)",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").open(encoding="utf-8")]
    pix = np.load(DATA / "images224.npy", mmap_mode="r")
    jobs = [(r["id"], 0) for r in rows]
    jobs += [(r["id"], v) for v in range(1, args.views) for r in rows if r["split"] == "train"]
    n = len(jobs)
    n0 = len(rows)
    mid = np.lib.format.open_memmap(args.out / "mid.npy", "w+", np.float16, (n, 112, 14, 14))
    pooled = np.zeros((n, 1280), np.float16)
    logits = np.zeros((n, 1000), np.float16)
    flip_ok = torch.tensor([r["flip_ok"] for r in rows])
    m = lite0.imagenet_lite0()
    t0 = time.time()
    with torch.no_grad():
        # batches never mix view 0 (plain, fp32) with augmented views (bf16)
        starts = list(range(0, n0, args.batch)) + list(range(n0, n, args.batch))
        for bi, s in enumerate(starts):
            e = min(s + args.batch, n0 if s < n0 else n)
            chunk = jobs[s:e]
            ids = torch.tensor([j[0] for j in chunk])
            rgba = torch.from_numpy(np.stack([pix[i] for i in ids.tolist()])).permute(0, 3, 1, 2)
            if s < n0:
                x = lite0.rgba_to_input(rgba)
                a, b, c = frozen_forward(m, x)
            else:
                x = augment(rgba, flip_ok[ids], lite0.SIZE, gen)  # CLIP-normalised
                x = ((x * CLIP_STD + CLIP_MEAN) * 255.0 - 127.0) / 128.0
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
                    a, b, c = frozen_forward(m, x)
            mid[s:e] = a.float().numpy().astype(np.float16)
            pooled[s:e] = b.float().numpy().astype(np.float16)
            logits[s:e] = c.float().numpy().astype(np.float16)
            if bi % 20 == 0:
                el = time.time() - t0
                print(f"{s}/{n} views, {el:.0f}s, eta {el / e * (n - e):.0f}s", flush=True)
    mid.flush()
    np.save(args.out / "pooled.npy", pooled)
    np.save(args.out / "logits.npy", logits)
    np.save(args.out / "index.npy", np.array(jobs, dtype=np.int32))
    print(f"done: {n} views in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
