"""OCR of scanned PDF pages: pages per second and character errors on this machine.

Protocol:

* ``--pages`` (default 12) A4 pages of Korean and English lines (18 a page, 14 pt,
  Noto Sans CJK) are drawn at 200 dpi, tilted 1.2 degrees, blurred and saved as
  JPEG quality 40, then wrapped by Pillow as PDFs with no text layer: what a
  scanner or a phone leaves.
* Each PDF is read the way indexing reads it, ``indexer.extract.extract_text_bytes``
  with ``OcrOptions`` (PDFium renders the page at 200 dpi, Tesseract reads it with
  ``--psm 6`` on one thread), timed in one process, then with one process per core
  (``--workers``, default the machine's cores), which is how the pages/s of a run
  with that many readers would scale.
* Character error rate: the edit distance between what was drawn and what was
  read, spaces left out, over the characters drawn, per script.

    python -m bench.bench_ocr [--pages 12] [--workers 2] [--languages kor+eng]
    python -m bench.bench_ocr --smoke   # tiny: a check that it runs, not a measurement
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from indexer.extract import extract_text_bytes
from indexer.ocr import OcrOptions, unavailable, version

KOREAN = [
    "자동차 보험 청구서는 사고 후 삼십 일 안에 제출해야 합니다",
    "고양이 사료 가격이 지난달보다 크게 올랐습니다",
    "회의는 목요일 오후 세 시로 옮겨졌습니다",
    "도서관은 이번 주말에 문을 닫습니다",
    "전기 요금 고지서가 우편으로 도착했습니다",
    "새 학기 수강 신청은 다음 주 월요일에 시작됩니다",
    "병원 예약을 확인하려면 전화를 주십시오",
    "택배 상자는 경비실에 맡겨 두었습니다",
    "올해 겨울은 작년보다 훨씬 춥다고 합니다",
]
ENGLISH = [
    "The insurance claim for the blue sedan was filed on Monday",
    "Please return the signed contract before the end of the month",
    "The library will be closed for repairs this weekend",
    "Quarterly revenue grew by twelve percent over last year",
    "The train to Busan leaves from platform four at nine",
    "Our new office is on the third floor of the east building",
    "Remember to water the plants while we are away",
    "The meeting moved to Thursday afternoon at three",
    "Invoices older than ninety days are sent to collections",
]
LINES_PER_PAGE = 18
DPI = 200


def cjk_font() -> str | None:
    """A font with Hangul (fonts-noto-cjk), a sans one where there is; None without."""
    try:
        listed = subprocess.run(
            ["fc-list", ":lang=ko", "file"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    fonts = sorted(ln.split(":")[0].strip() for ln in listed.splitlines() if ln.strip())
    fonts = [f for f in fonts if f.endswith((".ttc", ".otf", ".ttf"))]
    sans = [f for f in fonts if "Sans" in f and "Regular" in f]
    return (sans or fonts or [None])[0]


def page_lines(n: int, korean: bool) -> list[str]:
    out = []
    for i in range(LINES_PER_PAGE):
        pool = KOREAN if korean and i % 2 == 0 else ENGLISH
        out.append(pool[(n * 7 + i) % len(pool)])
    return out


def scanned_page(lines: list[str], font: str | None) -> Image.Image:
    """An A4 page of text as a scanner (or a phone) leaves it: tilted, soft, JPEG-noisy."""
    page = Image.new("L", (int(8.27 * DPI), int(11.69 * DPI)), 255)
    draw = ImageDraw.Draw(page)
    size = int(DPI * 14 / 72)
    face = ImageFont.truetype(font, size) if font else ImageFont.load_default(size)
    y = DPI
    for line in lines:
        draw.text((DPI, y), line, font=face, fill=0)
        y += int(size * 1.8)
    page = page.rotate(1.2, resample=Image.Resampling.BICUBIC, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=40)
    return Image.open(io.BytesIO(buf.getvalue())).convert("L")


def scanned_pdf(path: Path, lines: list[str], font: str | None) -> None:
    scanned_page(lines, font).save(path, "PDF", resolution=DPI)


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def read_pdf(args: tuple[str, OcrOptions]) -> str:
    path, options = args
    os.environ["OMP_THREAD_LIMIT"] = "1"
    passages = extract_text_bytes(Path(path).read_bytes(), ".pdf", ocr=options)
    return "\n".join(p.text for p in passages)


def errors(drawn: list[str], read: str, hangul: bool) -> tuple[int, int, int, int]:
    """(edits, characters) over the lines of one script, spaces left out, and (words
    found whole, words): a word split by a stray space is lost to a lexical search."""

    def keep(line: str) -> bool:
        return any("\uac00" <= c <= "\ud7a3" for c in line) == hangul

    want = "".join("".join(ln.split()) for ln in drawn if keep(ln))
    got = "".join("".join(ln.split()) for ln in read.splitlines() if keep(ln))
    words = [w for ln in drawn if keep(ln) for w in ln.split()]
    seen = set(read.split())
    return edit_distance(want, got), len(want), sum(w in seen for w in words), len(words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=12)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--languages", default=OcrOptions().languages)
    ap.add_argument("--smoke", action="store_true", help="tiny: a check, not a measurement")
    args = ap.parse_args()
    pages = 2 if args.smoke else args.pages
    workers = min(2, args.workers) if args.smoke else args.workers
    options = OcrOptions(languages=args.languages)
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    reason = unavailable(options)
    if reason is not None:
        print(f"pages/s: not measured ({reason})")
        return
    font = cjk_font()
    korean = font is not None
    print(
        f"tesseract {version(options)}, languages {options.languages}, {pages} pages at {DPI} dpi, "
        f"{'Korean and English' if korean else 'English only (no CJK font)'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        drawn = [page_lines(n, korean) for n in range(pages)]
        paths = []
        for n, lines in enumerate(drawn):
            path = Path(tmp) / f"scan{n:03}.pdf"
            scanned_pdf(path, lines, font)
            paths.append(str(path))
        jobs = [(p, options) for p in paths]
        read_pdf(jobs[0])  # warm: the imports and Tesseract's first model load
        t0 = time.perf_counter()
        texts = [read_pdf(job) for job in jobs]
        one = time.perf_counter() - t0
        print(f"1 process:   {pages / one:6.2f} pages/s  ({one / pages:.2f} s a page)")
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(read_pdf, jobs[:workers]))  # warm each worker
            t0 = time.perf_counter()
            list(pool.map(read_pdf, jobs))
            many = time.perf_counter() - t0
        print(f"{workers} processes: {pages / many:6.2f} pages/s  ({many / pages:.2f} s a page)")
    for hangul, name in ((True, "Korean"), (False, "English")):
        if hangul and not korean:
            continue
        rows = [errors(d, t, hangul) for d, t in zip(drawn, texts, strict=True)]
        edits, chars, found, words = (sum(r[i] for r in rows) for i in range(4))
        print(
            f"character error rate, {name}: {edits / max(chars, 1):.1%} ({edits}/{chars}); "
            f"words read whole {found / max(words, 1):.1%} ({found}/{words})"
        )


if __name__ == "__main__":
    main()
