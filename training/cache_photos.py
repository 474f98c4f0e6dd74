"""Photo-domain training views for semsearch-clip-lite0: real photographs that install
offline, run through the frozen ImageNet Lite0 trunk and cached like cache_scene.py's
views (pooled features + ImageNet logits), so that train_lite0.py (``--photos FRACTION``)
can put photos into the contrastive batches, captioned by **pseudo-captions** from the
frozen ImageNet classifier (the Korean / English names of its top classes) or, with
``--photo-captions real`` (issue 26), by their own captions: a Tux Paint stamp's
description (English and Korean, from the package), a full-frame photo's ``en``/``ko``
columns of photo_sources.txt (written by the project from the file name and a look at the
picture; 52 of the 57 have them). None of them is, or is another rendition of, a picture
of evalsets/photos. ``captioned_sources`` fixes a held-out photo split by concept (about a
quarter of the concepts, the head noun of the Korean caption): training never sees it,
training/eval_photos.py scores it.

Sources: ``training/photo_sources.txt`` (one line per file: kind, package and version,
file), chosen by hand from contact sheets (photographs only: renders, gradients, logos,
drawings and every evaluation photo left out):

* ``photo`` (57 full-frame photographs): Debian ``opencv-doc`` 4.6.0 sample data
  (examples/data, hfs, text, alphamat, dnn_superres, reg: fruits, baboon, building,
  butterfly, street scenes ...; OpenCV's sample images, licences as in
  /usr/share/doc/opencv-doc/copyright: BSD-3-Clause/Apache-2.0 distribution, pictures of
  various origins), ``plasma-workspace-wallpapers`` (KDE photo wallpapers, LGPL-3 /
  CC-BY-SA per /usr/share/wallpapers/*/metadata), ``lomiri-wallpapers-16.04/-20.04``
  (CC-BY-SA / CC-BY, per the package copyright), ``mate-backgrounds`` (GPL-2+),
  PyPI ``matplotlib`` sample_data grace_hopper.jpg (public domain, US Navy), PyPI
  ``scikit-image`` brick, grass, gravel, moon (CC0 / public domain);
* ``stamp`` (310 photographic cut-outs): Debian ``tuxpaint-stamps-default`` 2022.06.04
  (GPL-2+ / public domain per its copyright file): animals, food, tools, instruments,
  flowers, planets ... (the package's drawn stamps, SVG or flat-colour PNG, were left out).

Views (deterministic for a seed; view 0 of every file is the plain picture, decoded and
preprocessed as the product does: at most 1024 px, longest side to 224, padded to a
square with white; fp32):

* photo, views 1..V-1: a random crop of 30-100 % of the picture's area with aspect
  ratio (w/h) log-uniform in [1/2, 2] (clipped to the picture), horizontal flip 50 %,
  brightness / contrast x U(0.8, 1.2), saturation x U(0.7, 1.3), then the product's
  pad-to-square (white) and resize to 224; bf16 autocast;
* stamp, views 1..S-1: the stamp padded to a transparent square at 224 px, then
  train_clip.augment (the drawings' augmentation: random resized crop / zoom-out, flip,
  background mostly white, sometimes a colour, colour jitter); bf16 autocast.

Writes training/data/lite0_cache_photos/: ``pooled.npy`` float16 (N, 1280),
``logits.npy`` float16 (N, 1000), ``index.npy`` int32 (N, 2) = (source number, view),
``sources.json`` (the parsed list: kind, package, file).

    python training/cache_photos.py --views 48 --stamp-views 8   # ~3-6 min on 2 cores
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lite0  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from cache_lite0 import frozen_forward  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402
from train_clip import MEAN as CLIP_MEAN  # noqa: E402
from train_clip import STD as CLIP_STD  # noqa: E402
from train_clip import augment  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SOURCES = HERE / "photo_sources.txt"
S = lite0.SIZE


def resolve(f: str) -> Path:
    if f.startswith("skimage:"):
        import skimage

        return Path(skimage.__file__).parent / "data" / f[len("skimage:") :]
    if f.startswith("matplotlib:"):
        import matplotlib

        return Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / f.split(":", 1)[1]
    return Path(f)


def read_sources(path: Path = SOURCES) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, package, f, *caps = line.split("\t")
        row = {"kind": kind, "package": package, "file": f}
        row.update({k: v for k, v in zip(("en", "ko"), caps, strict=False) if v})
        out.append(row)
    return out


PHOTO_HELDOUT_SALT = "semsearch-photo-heldout|"


def source_captions(s: dict) -> list[dict]:
    """Real captions of a source: a Tux Paint stamp's own description (English first line,
    its Korean ``ko.utf8=`` line, and the English without article/punctuation), or the
    ``en``/``ko`` columns of photo_sources.txt; [] where there are none."""
    caps: list[dict] = []
    if s["kind"] == "stamp":
        import build_data as bd

        txt = resolve(s["file"]).with_suffix(".txt")
        desc = bd.stamp_text(txt) if txt.is_file() else {}
        if desc.get("en"):
            caps.append({"lang": "en", "text": desc["en"]})
            short = bd.plain(desc["en"])
            if short and short != desc["en"]:
                caps.append({"lang": "en", "text": short})
        if desc.get("ko"):
            caps.append({"lang": "ko", "text": desc["ko"]})
    for lang in ("en", "ko"):
        if s.get(lang):
            caps.append({"lang": lang, "text": s[lang]})
    return caps


def photo_group(s: dict, caps: list[dict]) -> str:
    """The concept a captioned photo belongs to, for the held-out split: the head noun of its
    Korean caption (Korean puts it last: 시에라뷰티 사과 -> 사과, 조그만 토끼 -> 토끼), else the
    last word of its English caption; so every apple or rabbit photo falls on one side."""
    ko = next((c["text"] for c in caps if c["lang"] == "ko"), None)
    if ko:
        words = re.sub(r"\([^)]*\)", " ", ko).split()
        if words:
            return "ko:" + words[-1]
    en = next((c["text"] for c in caps if c["lang"] == "en"), "")
    words = re.findall(r"[a-z]+", re.sub(r"\([^)]*\)", " ", en.lower()))
    return "en:" + (words[-1] if words else s["file"])


def photo_heldout(group: str) -> bool:
    """About a quarter of the captioned photos' concepts never enter training."""
    h = int(hashlib.sha1((PHOTO_HELDOUT_SALT + group).encode()).hexdigest()[:8], 16)
    return h % 1000 < 250


def captioned_sources(sources: list[dict] | None = None) -> list[dict]:
    """read_sources() plus ``captions``, ``group`` and ``split`` ('train' / 'heldout' for
    captioned sources, 'uncaptioned' for the rest) of every source."""
    out = []
    for s in sources if sources is not None else read_sources():
        caps = source_captions(s)
        group = photo_group(s, caps) if caps else ""
        split = ("heldout" if photo_heldout(group) else "train") if caps else "uncaptioned"
        out.append({**s, "captions": caps, "group": group, "split": split})
    return out


def load(path: Path, max_side: int = 1024, rgba: bool = False) -> Image.Image:
    """As the product decodes: EXIF orientation, <= max_side; RGB on white unless rgba."""
    Image.MAX_IMAGE_PIXELS = None
    im = Image.open(path)
    im.draft("RGB", (max_side, max_side))
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P", "PA"):
        im = im.convert("RGBA")
        if not rgba:
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
    im = im.convert("RGBA" if rgba else "RGB")
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return im


def photo_view(im: Image.Image, rng: np.random.Generator) -> torch.Tensor:
    w, h = im.size
    area = rng.uniform(0.3, 1.0) * w * h
    r = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    cw = int(round(min(w, math.sqrt(area * r))))
    ch = int(round(min(h, math.sqrt(area / r))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    crop = im.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    x = np.asarray(crop, dtype=np.float32) / 255.0
    x = x * rng.uniform(0.8, 1.2)
    m = x.mean()
    x = (x - m) * rng.uniform(0.8, 1.2) + m
    g = x.mean(axis=2, keepdims=True)
    x = (x - g) * rng.uniform(0.7, 1.3) + g
    crop = Image.fromarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8))
    return lite0.preprocess(crop)  # pad to a square with white, 224 bicubic, (x-127)/128


def stamp_square(im: Image.Image) -> torch.Tensor:
    """RGBA stamp -> uint8 (4, S, S), longest side S, padded with transparency."""
    w, h = im.size
    sc = S / max(w, h)
    im = im.resize((max(1, round(w * sc)), max(1, round(h * sc))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (S, S), (255, 255, 255, 0))
    canvas.paste(im, ((S - im.size[0]) // 2, (S - im.size[1]) // 2))
    return torch.from_numpy(np.asarray(canvas, dtype=np.uint8).copy()).permute(2, 0, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--views", type=int, default=48, help="views per full-frame photo")
    ap.add_argument("--stamp-views", type=int, default=8, help="views per stamp")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=DATA / "lite0_cache_photos")
    ap.add_argument("--preview", type=Path, default=None, help="save some views as PNG here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    sources = read_sources()
    m = lite0.imagenet_lite0()
    jobs: list[tuple[int, int]] = []
    pooled, logits = [], []
    t0 = time.time()

    def run(x: torch.Tensor, fp32: bool) -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=not fp32):
            _, b, c = frozen_forward(m, x)
        pooled.append(b.float().numpy().astype(np.float16))
        logits.append(c.float().numpy().astype(np.float16))

    # view 0 of every source, fp32, product-like
    plain = []
    for si, s in enumerate(sources):
        im = load(resolve(s["file"]))
        plain.append(lite0.preprocess(im))
        jobs.append((si, 0))
    for i in range(0, len(plain), args.batch):
        run(torch.stack(plain[i : i + args.batch]), fp32=True)
    print(f"{len(plain)} plain views, {time.time() - t0:.0f}s", flush=True)

    # augmented views, bf16
    pending: list[torch.Tensor] = []

    def flush(force: bool = False) -> None:
        while len(pending) >= args.batch or (force and pending):
            chunk = pending[: args.batch]
            del pending[: args.batch]
            run(torch.stack(chunk), fp32=False)

    n_prev = 0
    for si, s in enumerate(sources):
        if s["kind"] == "photo":
            im = load(resolve(s["file"]))
            for v in range(1, args.views):
                pending.append(photo_view(im, rng))
                jobs.append((si, v))
        else:
            sq = stamp_square(load(resolve(s["file"]), rgba=True))
            nv = args.stamp_views - 1
            x = augment(sq[None].expand(nv, -1, -1, -1), torch.ones(nv, dtype=torch.bool), S, gen)
            x = ((x * CLIP_STD + CLIP_MEAN) * 255.0 - 127.0) / 128.0
            pending.extend(list(x))
            jobs.extend((si, v) for v in range(1, args.stamp_views))
        if args.preview and si in (0, 20, len(sources) - 1) and pending:
            args.preview.mkdir(parents=True, exist_ok=True)
            for k, t in enumerate(pending[-4:]):
                arr = (t * 128 + 127).clamp(0, 255).byte().permute(1, 2, 0).numpy()
                Image.fromarray(arr).save(args.preview / f"src{si}_{k}.png")
        flush()
        if len(jobs) - n_prev > 500:
            n_prev = len(jobs)
            print(
                f"{si + 1}/{len(sources)} sources, {len(jobs)} views, {time.time() - t0:.0f}s",
                flush=True,
            )
    flush(force=True)
    pooled_a = np.concatenate(pooled)
    logits_a = np.concatenate(logits)
    assert len(pooled_a) == len(jobs), (len(pooled_a), len(jobs))
    np.save(args.out / "pooled.npy", pooled_a)
    np.save(args.out / "logits.npy", logits_a)
    np.save(args.out / "index.npy", np.array(jobs, dtype=np.int32))
    (args.out / "sources.json").write_text(json.dumps(sources, indent=1, ensure_ascii=False))
    n_ph = sum(s["kind"] == "photo" for s in sources)
    print(
        f"done: {len(jobs)} views of {len(sources)} sources ({n_ph} photos, "
        f"{len(sources) - n_ph} stamps) in {time.time() - t0:.0f}s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
