"""The picture-domain probe: photo, drawing (clip art, stamps, icons) or text-bearing
picture (screenshot, scan, photo of a page), from the image model's own features.

A multinomial logistic regression (scikit-learn) on the L2-normalised pooled features
of the lite0 tower's ImageNet trunk (1,280 numbers, the input of its head, computed as
the product computes them: the same ONNX pass gives the vector, the tags and these).
The default model's 384-number image vectors are fitted and scored beside them for
comparison: on the first run they did worse (held-out accuracy 0.927 against 0.975;
real photos kept apart 0.84 against 1.00), so the shipped probe reads the trunk.
C is chosen by 5-fold cross-validation on the training rows.

Labelled sources (nothing labelled by a model):

* photo: training/photo_sources.txt (57 full-frame photographs from Debian packages and
  wheels, 310 photographic Tux Paint cut-outs);
* drawing: the Tux Paint stamps not in that list (drawn PNG stamps, Debian
  ``tuxpaint-stamps-default``) and 700 Debian ``openclipart-png`` files (seeded draw);
* text: pictures drawn here from the Korean and English help texts of
  evalsets/libreoffice-help-ko and evalsets/python-faq-en with evalsets/office-ko's own
  writers: screenshots (``write_png``), phone photos of printed pages (``write_jpg``),
  scans (bench/bench_ocr.py ``scanned_page``) and slides (drawn below).

Held out, never fitted: every fifth file of each source above (by sorted path), plus
pictures made apart from all of them: evalsets/photos (29 photographs), the pictures of
sample_corpus/images and tests/data/query_images (drawings, photos, one screenshot) and
evalsets/office-ko's screenshots and page photos (from the Debian FAQ's texts).

    apt-get install -y tuxpaint-stamps-default openclipart-png opencv-doc \
        plasma-workspace-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 \
        mate-backgrounds fonts-noto-cjk
    python training/train_domain.py            # ~5 min on 2 cores; --ship writes the weights
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evalsets" / "office-ko"))

from searchengine.models.domain import CLASSES, WEIGHTS_FILE  # noqa: E402

TUXPAINT = Path("/usr/share/tuxpaint/stamps")
OPENCLIPART = Path("/usr/share/openclipart/png")
SAMPLE_LABELS = {  # the repository's pictures, labelled by looking at them
    "택배_배송_조회.png": "text",
    "chelsea_cat_photo.jpg": "photo",
    "coffee_photo.jpg": "photo",
}
MAX_SIDE = 1024  # as the product decodes


def photo_sources() -> list[tuple[str, Path]]:
    sys.path.insert(0, str(ROOT / "training"))
    out = []
    for line in (ROOT / "training" / "photo_sources.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        kind, _, f = line.split("\t")
        if f.startswith("skimage:") or f.startswith("matplotlib:"):
            continue  # wheels this environment may lack; the Debian files suffice
        out.append((kind, Path(f)))
    return out


def texts() -> list[str]:
    """Passages to draw: help pages in Korean and English, cut to a screen or a page."""
    found = sorted((ROOT / "evalsets" / "libreoffice-help-ko" / "docs").glob("*.txt"))
    found += sorted((ROOT / "evalsets" / "python-faq-en" / "docs").glob("*.txt"))
    out = []
    for f in found:
        t = f.read_text(encoding="utf-8").strip()
        if len(t) > 200:
            out.append(t[:900])
    return out


def slide(text: str, rng: random.Random) -> Image.Image:
    """A slide: a title and a few bullet lines on a plain or tinted background."""
    w, h = (1280, 720) if rng.random() < 0.7 else (1024, 768)
    bg = rng.choice([(255, 255, 255), (240, 244, 250), (30, 40, 70), (250, 245, 230)])
    ink = (255, 255, 255) if sum(bg) < 300 else (20, 20, 30)
    im = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(im)
    face = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
    title = ImageFont.truetype(face, rng.randint(40, 56))
    body = ImageFont.truetype(face.replace("Bold", "Regular"), rng.randint(24, 32))
    if rng.random() < 0.5:
        draw.rectangle(
            (0, 0, w, 130), fill=rng.choice([(0, 90, 160), (200, 60, 40), (40, 130, 80)])
        )
        draw.text((60, 38), text[:28], font=title, fill=(255, 255, 255))
    else:
        draw.text((60, 50), text[:28], font=title, fill=ink)
    words = text[28:].split()
    y = 190
    while words and y < h - 80:
        line = " ".join(words[: rng.randint(4, 8)])
        words = words[len(line.split()) :]
        draw.text((90, y), "• " + line, font=body, fill=ink)
        y += int(body.size * 1.9)
    return im


def text_pictures(n: int, seed: int) -> list[tuple[str, Image.Image]]:
    import build as office  # evalsets/office-ko/build.py

    from bench.bench_ocr import cjk_font, scanned_page

    rng = random.Random(seed)
    passages = texts()
    rng.shuffle(passages)
    font = cjk_font()
    out: list[tuple[str, Image.Image]] = []
    for i in range(n):
        t = passages[i % len(passages)]
        kind = ("screenshot", "page photo", "scan", "slide")[i % 4]
        if kind == "screenshot":
            im = Image.open(io.BytesIO(office.write_png(t[:600], f"train{i}", i)))
        elif kind == "page photo":
            im = Image.open(io.BytesIO(office.write_jpg(t[:700], f"train{i}")))
        elif kind == "scan":
            lines = [t[j : j + 40] for j in range(0, min(len(t), 1200), 40)]
            im = scanned_page(lines, font)
        else:
            im = slide(t, rng)
        im = im.convert("RGB")
        im.thumbnail((MAX_SIDE, MAX_SIDE))
        out.append((f"{kind} {i}", im))
    return out


def load(path: Path) -> Image.Image:
    from searchengine.models.images import load_image

    return load_image(path, MAX_SIDE)


def gather(seed: int, n_text: int) -> list[tuple[str, str, str, Image.Image]]:
    """(split, label, name, picture) rows."""
    rows: list[tuple[str, str, str, Image.Image]] = []

    def add(label: str, items: list[tuple[str, Image.Image]]) -> None:
        for i, (name, im) in enumerate(items):
            rows.append(("heldout" if i % 5 == 4 else "train", label, name, im))

    photos = sorted(photo_sources(), key=lambda kp: str(kp[1]))
    add("photo", [(str(p), load(p)) for _, p in photos if p.is_file()])
    photo_stamps = {str(p) for k, p in photos if k == "stamp"}
    drawn = [p for p in sorted(TUXPAINT.rglob("*.png")) if str(p) not in photo_stamps]
    drawn = [p for p in drawn if "/." not in str(p)]
    rng = random.Random(seed)
    clipart = sorted(OPENCLIPART.rglob("*.png"))
    rng.shuffle(clipart)
    add("drawing", [(str(p), load(p)) for p in drawn + sorted(clipart[:700])])
    add("text", text_pictures(n_text, seed))
    apart = [(p, "photo") for p in sorted((ROOT / "evalsets" / "photos").glob("*.jpg"))]
    for p in sorted((ROOT / "sample_corpus" / "images").iterdir()):
        apart.append((p, SAMPLE_LABELS.get(p.name, "drawing")))
    apart += [(p, "drawing") for p in sorted((ROOT / "tests/data/query_images").glob("*.png"))]
    office_docs = ROOT / "evalsets" / "office-ko" / "docs"
    apart += [(p, "text") for p in sorted(office_docs.glob("*.png"))]
    apart += [(p, "text") for p in sorted(office_docs.glob("*.jpg"))]
    for p, label in apart:
        rows.append(("apart", label, str(p.relative_to(ROOT)), load(p)))
    return rows


def features(images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    """(duo vectors, lite0 pooled features) as the product computes them."""
    from searchengine.config import Settings
    from searchengine.models.spaces import load_image_encoder

    pair = load_image_encoder("semsearch-clip-duo", Settings())
    lite0 = pair.parts[0][0]  # type: ignore[union-attr]
    vecs, pooled = [], []
    for start in range(0, len(images), 32):
        batch = images[start : start + 32]
        vecs.append(pair.encode_images(batch))  # loads the towers (ONNX where exported)
        _, p = lite0._onnx.run(batch)  # type: ignore[union-attr]
        pooled.append(p)
    return np.concatenate(vecs), np.concatenate(pooled)


def fit(x: np.ndarray, y: np.ndarray, c: float):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)


CS = (0.3, 1.0, 3.0, 10.0, 30.0)


def cross_validated_c(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    scores = {
        c: cross_val_score(
            LogisticRegression(C=c, max_iter=2000, class_weight="balanced"), x, y, cv=5
        ).mean()
        for c in CS
    }
    return max(scores, key=lambda c: scores[c])


def accuracy(model, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]]:  # type: ignore[no-untyped-def]
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    pred = model.predict(x)
    per = {
        CLASSES[c]: float(np.mean(pred[y == c] == c)) for c in range(len(CLASSES)) if (y == c).any()
    }
    return float(np.mean(pred == y)), per


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--text", type=int, default=240, help="text pictures to draw")
    ap.add_argument("--ship", action="store_true", help=f"write {WEIGHTS_FILE.name}")
    ap.add_argument("--out", type=Path, default=WEIGHTS_FILE, help="where --ship writes")
    args = ap.parse_args()
    t0 = time.time()
    rows = gather(args.seed, args.text)
    labels = np.array([CLASSES.index(r[1]) for r in rows])
    split = np.array([r[0] for r in rows])
    print(f"{len(rows)} pictures gathered in {time.time() - t0:.0f} s", flush=True)
    for s in ("train", "heldout", "apart"):
        counts = {c: int(((split == s) & (labels == i)).sum()) for i, c in enumerate(CLASSES)}
        print(f"  {s}: {counts}")
    vecs, pooled = features([r[3] for r in rows])
    print(f"features in {time.time() - t0:.0f} s", flush=True)
    train = split == "train"
    report: dict[str, object] = {}
    chosen = None
    for name, x in (("duo vector (384)", vecs), ("lite0 pooled (1280)", pooled)):
        best_c = cross_validated_c(x[train], labels[train])
        print(f"{name}: C {best_c:g} by 5-fold cross-validation on the training rows")
        for c in CS:
            model = fit(x[train], labels[train], c)
            res = {}
            for s in ("heldout", "apart"):
                acc, per = accuracy(model, x[split == s], labels[split == s])
                res[s] = {"accuracy": round(acc, 3), **{k: round(v, 3) for k, v in per.items()}}
            report[f"{name}, C {c:g}"] = res
            print(f"{name:22} C {c:<4g} held-out {res['heldout']}  apart {res['apart']}")
            if name.startswith("lite0") and c == best_c:
                chosen = model
        # which pictures kept apart each feature gets wrong
        model = fit(x[train], labels[train], best_c)
        x_apart = x[split == "apart"] / np.linalg.norm(x[split == "apart"], axis=1, keepdims=True)
        wrong = [
            (rows[i][2], rows[i][1], CLASSES[p])
            for i, p in zip(np.flatnonzero(split == "apart"), model.predict(x_apart), strict=True)
            if CLASSES[p] != rows[i][1]
        ]
        print(f"{name}, apart, wrong:", wrong)
    if args.ship and chosen is not None:
        from safetensors.numpy import save_file

        save_file(
            {
                # C order: scikit-learn's coef_ may be Fortran-ordered, and safetensors
                # writes the buffer as it lies (the first ship scrambled the rows so)
                "weight": np.ascontiguousarray(chosen.coef_, dtype=np.float32),
                "bias": np.ascontiguousarray(chosen.intercept_, dtype=np.float32),
            },
            str(args.out),
            metadata={"classes": json.dumps(CLASSES), "model": "semsearch-clip-lite0"},
        )
        print(f"wrote {args.out}")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
