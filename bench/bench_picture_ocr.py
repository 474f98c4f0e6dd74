"""Words in pictures: the OCR gate's precision and recall, OCR speed, and what the
gate costs a folder of photos.

Protocol:

* **Labelled pictures.** With text: screenshots drawn here (a window with a title
  bar, UI text at 14-17 px, light and dark), photos of printed pages drawn here
  (turned, unevenly lit, blurred, noisy JPEG), the `.png` and `.jpg` pictures of
  `evalsets/office-ko` where that set has them, and real screenshots that ship
  in packages on this machine where there are some (Rust's and Node's
  documentation). Without text: the photos of `evalsets/photos`, the drawings and
  photos of `sample_corpus/images` and `tests/data/query_images`, and the
  Adwaita icons where installed. The drawn ones use other sentences, sizes and
  seeds than the tests. Each picture is decoded the way the reader decodes it
  (`decode_upright`, the image model's copy, `gate_view`) and scored by
  `picture_text.text_score`: precision and recall of `has_text`, and the gate's
  milliseconds a picture.
* **OCR speed**: `picture_text.read_picture` on the drawn screenshots and page
  photos, one process (Tesseract on one thread), seconds a picture.
* **A photo-only folder**: the photos of `evalsets/photos` (copied --copies times
  under other names) indexed by `Index.add` with the real default models,
  `--ocr off` against `--ocr auto`, alternated, fresh index each time, the models
  loaded once before; the medians and their ratio.

    python -m bench.bench_picture_ocr [--copies 4] [--repeats 3]
    python -m bench.bench_picture_ocr --smoke   # tiny: a check that it runs
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bench.bench_ocr import ENGLISH, KOREAN, cjk_font
from indexer.ocr import OcrOptions, unavailable, version
from indexer.picture_text import gate_view, read_picture, text_score
from searchengine.config import DEFAULT_MAX_IMAGE_SIDE
from searchengine.models.images import decode_upright

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SCREENSHOTS = {"택배_배송_조회.png"}  # the pictures of sample_corpus/images that hold text
TITLES = ["메모장", "Mail", "문서 보기", "Settings", "검색 결과", "Terminal"]


def screenshot(
    lines: list[str], font: str | None, *, size: int = 16, width: int = 1000, dark: bool = False
) -> Image.Image:
    """Lines of text in a window as a screen shows them: a title bar, UI-size text."""
    paper, ink, bar = (
        ((30, 30, 34), (225, 225, 225), (55, 55, 60))
        if dark
        else (
            (255, 255, 255),
            (20, 20, 20),
            (232, 232, 236),
        )
    )
    line_height = int(size * 1.6)
    height = 48 + 24 + line_height * len(lines) + 24
    image = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(font, size) if font else ImageFont.load_default(size)
    small = ImageFont.truetype(font, 13) if font else ImageFont.load_default(13)
    draw.rectangle((0, 0, width, 36), fill=bar)
    for n, colour in enumerate(((237, 95, 88), (246, 190, 79), (98, 197, 84))):
        draw.ellipse((12 + 20 * n, 12, 24 + 20 * n, 24), fill=colour)
    draw.text((90, 10), TITLES[len(lines) % len(TITLES)], font=small, fill=ink)
    y = 48 + 24
    for line in lines:
        draw.text((24, y), line, font=face, fill=ink)
        y += line_height
    return image


def page_photo(lines: list[str], font: str | None, seed: int) -> Image.Image:
    """A printed page photographed by a phone: turned, unevenly lit, soft, noisy."""
    rng = random.Random(seed)
    dpi = 200
    page = Image.new("L", (int(8.27 * dpi), int(5.8 * dpi)), 250)
    draw = ImageDraw.Draw(page)
    size = int(dpi * 12 / 72)
    face = ImageFont.truetype(font, size) if font else ImageFont.load_default(size)
    y = dpi // 2
    for line in lines:
        draw.text((dpi // 2, y), line, font=face, fill=25)
        y += int(size * 1.7)
    table = Image.new("L", (page.width + 240, page.height + 240), rng.randint(90, 140))
    table.paste(page, (120, 120))
    table = table.rotate(rng.uniform(-4, 4), resample=Image.Resampling.BICUBIC, fillcolor=110)
    light = Image.linear_gradient("L").resize(table.size).rotate(rng.uniform(0, 360))
    table = Image.blend(table, Image.eval(light, lambda v: 60 + v // 2), 0.25)
    table = table.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.2)))
    noise = Image.effect_noise(table.size, 12)
    table = Image.blend(table, noise, 0.08).convert("RGB")
    buf = io.BytesIO()
    table.save(buf, "JPEG", quality=rng.randint(60, 75))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


SENTENCES = [
    "분기 매출 보고서는 금요일까지 제출해 주세요",
    "주차장 공사로 인해 다음 주 출입구가 바뀝니다",
    "회원 가입 후 이메일 인증을 완료해 주세요",
    "Your password was changed on 3 March",
    "Download the installer and run setup.exe",
    "The quarterly budget review starts at 10:00",
]


def drawn_lines(n: int, korean: bool) -> list[str]:
    pool = (SENTENCES + KOREAN + ENGLISH) if korean else (SENTENCES[3:] + ENGLISH)
    return [pool[(n * 5 + i * 3) % len(pool)] for i in range(2 + n % 11)]  # sparse to full


def labelled(font: str | None, smoke: bool) -> list[tuple[str, bool, Image.Image | Path]]:
    """(group, has text, picture) for every labelled picture there is here."""
    korean = font is not None
    n = 3 if smoke else 24
    out: list[tuple[str, bool, Image.Image | Path]] = []
    for i in range(n):
        out.append(
            (
                "drawn screenshot",
                True,
                screenshot(drawn_lines(i, korean), font, size=14 + i % 4, dark=i % 5 == 4),
            )
        )
        out.append(("drawn page photo", True, page_photo(drawn_lines(i + 7, korean), font, i)))
    office = sorted(glob.glob(str(ROOT / "evalsets/office-ko/docs/*.png")))
    office += sorted(glob.glob(str(ROOT / "evalsets/office-ko/docs/*.jpg")))
    out += [("office-ko picture", True, Path(p)) for p in office[: 4 if smoke else None]]
    real = []
    for pattern in (
        "/root/.rustup/toolchains/stable-*/share/doc/rust/html/*/images/*.png",
        "/root/.rustup/toolchains/stable-*/share/doc/rust/html/book/img/trpl*.png",
        "/usr/share/doc/nodejs/contributing/doc_img/youtube-*.png",
    ):
        real += sorted(glob.glob(pattern))
    out += [("packaged screenshot", True, Path(p)) for p in real if "Logo" not in p]
    sample = sorted((ROOT / "sample_corpus/images").glob("*"))
    out += [("sample screenshot", True, p) for p in sample if p.name in SAMPLE_SCREENSHOTS]
    photos = sorted((ROOT / "evalsets/photos").glob("*.jpg"))
    drawings = [p for p in sample if p.name not in SAMPLE_SCREENSHOTS]
    drawings += sorted((ROOT / "tests/data/query_images").glob("*"))
    icons = sorted(glob.glob("/usr/share/icons/Adwaita/512x512/*/*.png"))
    out += [("photo", False, p) for p in photos[: 6 if smoke else None]]
    out += [("drawing", False, p) for p in drawings[: 4 if smoke else None]]
    out += [("icon", False, Path(p)) for p in icons[: 4 if smoke else None]]
    return out


def as_read(picture: Image.Image | Path) -> tuple[Image.Image, bytes]:
    """The gate's view of a picture, decoded as the reader decodes it, and its bytes."""
    if isinstance(picture, Path):
        data = picture.read_bytes()
    else:
        buf = io.BytesIO()
        picture.save(buf, "PNG")
        data = buf.getvalue()
    upright = decode_upright(io.BytesIO(data), DEFAULT_MAX_IMAGE_SIDE)
    model_view = upright.copy()
    model_view.thumbnail((DEFAULT_MAX_IMAGE_SIDE, DEFAULT_MAX_IMAGE_SIDE))
    return gate_view(upright, model_view), data


def gate_figures(font: str | None, smoke: bool, options: OcrOptions, ocr: bool) -> None:
    rows = labelled(font, smoke)
    results = []
    gate_ms = []
    read_s: dict[str, list[float]] = {}
    for group, has_text, picture in rows:
        view, data = as_read(picture)
        t0 = time.perf_counter()
        said = text_score(view).has_text
        gate_ms.append((time.perf_counter() - t0) * 1000)
        results.append((group, has_text, said))
        if ocr and said and group.startswith("drawn") and len(read_s.get(group, [])) < 6:
            t0 = time.perf_counter()
            read_picture(data, options)
            read_s.setdefault(group, []).append(time.perf_counter() - t0)
    tp = sum(1 for _, t, s in results if t and s)
    fp = sum(1 for _, t, s in results if not t and s)
    fn = sum(1 for _, t, s in results if t and not s)
    print(f"labelled pictures: {len(results)} ({sum(t for _, t, _ in results)} with text)")
    for group in dict.fromkeys(g for g, _, _ in results):
        mine = [(t, s) for g, t, s in results if g == group]
        said = sum(s for _, s in mine)
        print(f"  {group:20} {len(mine):3} pictures, gate says text for {said}")
    print(
        f"gate: precision {tp / max(tp + fp, 1):.3f}, recall {tp / max(tp + fn, 1):.3f} "
        f"(tp {tp}, fp {fp}, fn {fn}); median {statistics.median(gate_ms):.1f} ms a picture"
    )
    for group, times in read_s.items():
        print(f"OCR of a {group}: median {statistics.median(times):.2f} s ({len(times)} read)")


def photo_folder_cost(copies: int, repeats: int) -> None:
    from searchengine import Encoders, Index
    from searchengine.config import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, Settings
    from searchengine.models.spaces import load_image_encoder, load_text_encoder

    photos = sorted((ROOT / "evalsets/photos").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for c in range(copies):
            for p in photos:
                shutil.copy(p, folder / f"{c}_{p.name}")
        n = len(list(folder.iterdir()))
        base = Settings(index_dir=Path(tmp) / "warm", word_vectors=False)
        encoders = Encoders(  # the models, loaded once, shared by the runs
            text=load_text_encoder(DEFAULT_TEXT_MODEL, base),
            image=load_image_encoder(DEFAULT_IMAGE_MODEL, base),
        )
        with Index.open(settings=base, encoders=encoders) as index:  # warm: first batches
            index.add(folder)
        times: dict[str, list[float]] = {"off": [], "auto": []}
        for r in range(repeats):
            for mode in ("off", "auto") if r % 2 == 0 else ("auto", "off"):
                settings = replace(base, index_dir=Path(tmp) / f"{mode}{r}", ocr=mode)
                with Index.open(settings=settings, encoders=encoders) as index:
                    t0 = time.perf_counter()
                    report = index.add(folder)
                    times[mode].append(time.perf_counter() - t0)
                    assert report.images == n, report.to_json()
        off, auto = statistics.median(times["off"]), statistics.median(times["auto"])
        print(
            f"photo folder ({n} photos, {repeats} runs each): --ocr off {off:.2f} s, "
            f"auto {auto:.2f} s: auto/off = {auto / off:.3f}"
        )
        # the gate's own share, timed alone (the runs above are noisy on a busy machine)
        gate = 0.0
        read = 0
        for path in sorted(folder.iterdir()):
            view, _ = as_read(path)
            t0 = time.perf_counter()
            read += text_score(view).has_text
            gate += time.perf_counter() - t0
        print(
            f"the gate alone: {gate:.2f} s for the {n} photos ({gate / n * 1000:.1f} ms each), "
            f"{gate / off:.1%} of the --ocr off run; pictures it sends to OCR: {read}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny: a check, not a measurement")
    args = ap.parse_args()
    options = OcrOptions()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    reason = unavailable(options)
    if reason is None:
        print(f"tesseract {version(options)}, languages {options.languages}")
    else:
        print(f"OCR speed: not measured ({reason})")
    gate_figures(cjk_font(), args.smoke, options, reason is None)
    if not args.smoke:
        photo_folder_cost(args.copies, args.repeats)


if __name__ == "__main__":
    main()
