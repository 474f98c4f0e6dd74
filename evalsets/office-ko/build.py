#!/usr/bin/env python3
"""Build evalsets/office-ko/ from evalsets/debian-faq-ko/: the same Korean answers, each
written into one office format by a writer that is not semsearch's reader.

    .venv/bin/python evalsets/office-ko/build.py

Answer number i (the debian-faq-ko documents in name order) goes to FORMATS[i % 11], keeping
its stem (`01-01.txt` -> `01-01.docx`), so the queries of debian-faq-ko/qrels.tsv ask the
same texts; this set's qrels.tsv is that file with the new names. The writers:

  docx  python-docx        pptx  python-pptx      xlsx  openpyxl       odt  odfpy
  hwpx  hwpforge (Rust)    eml   the email package (half of them CP949, labelled legacy-style)
  rtf   written here, \\'XX CP949 escapes          epub  written here (zip + XHTML, EPUB 3)
  pdf   a scan: pages rendered with Pillow and Noto Sans CJK KR, skewed, blurred, speckled,
        saved as JPEG pictures in an image-only PDF (no text layer)
  png   a screenshot: a window on a 96 dpi screen (title bar, maybe a sidebar), the text in
        Noto Sans CJK KR at 14-17 px as a screen draws it; a long answer makes a tall
        (scrolling) capture
  jpg   a phone's photo of a printed page: the text on an A4 page in Noto Serif CJK KR, the
        page photographed on a desk at an angle, under uneven light, a little out of focus,
        with sensor noise, saved as a phone saves it (JPEG quality 60-75)

Everything written is a pure function of the debian-faq-ko files (and, for the pictures, of
the installed Pillow, FreeType, libjpeg, zlib and fonts-noto-cjk): fixed dates in every file,
zip members with a fixed time, every random choice from a generator seeded by the document's
name. Running it twice gives byte-identical files. The writers are the `dev` extra's
(pip install -e '.[dev]').
See SOURCE.md for the rules and the counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import re
import shutil
import uuid
import zipfile
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "debian-faq-ko"
FORMATS = ("docx", "pptx", "xlsx", "odt", "hwpx", "eml", "rtf", "epub", "pdf", "png", "jpg")
WHEN = dt.datetime(2021, 12, 6, 9, 0, 0)  # every file's creation and modification date
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_FACE = "Noto Sans CJK KR"
BOLD = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")  # fonts-noto-cjk too
SERIF = Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
SERIF_FACE = "Noto Serif CJK KR"

# The scan: an A4 page at 150 dpi, 11.5 pt text, then what a cheap scanner does to it.
PAGE = (1240, 1754)
MARGIN = (110, 130)  # left/right, top/bottom, in pixels
FONT_PX = 24
LINE_PX = 37
SKEW_DEG = 1.2  # each page turned by a seeded angle in [-SKEW_DEG, SKEW_DEG]
BLUR_PX = 0.7
SPECKS = 0.0004  # share of pixels turned into dark dust
JPEG_QUALITY = 40

# The screenshot: a window on a 96 dpi screen, its text in the UI font at the sizes screens
# use (small, crisp, anti-aliased: the hard case for OCR, unlike a 150-300 dpi page).
SHOT_FONT_PX = (14, 17)  # the text's size, in pixels, drawn from this range (inclusive)
SHOT_DESKTOP = 1280  # a desktop window's width; its height is one of SHOT_HEIGHTS or more
SHOT_HEIGHTS = (720, 800, 860)
SHOT_NARROW = (720, 1280)  # every third screenshot: a narrow, phone-like window
SHOT_APPS = ("Leaf Notes", "글판", "Papyrus", "메모함", "Quill Reader", "한빛 뷰어")
# (background, text, title bar, sidebar, title text), light themes and dark ones
SHOT_LIGHT = (
    ((255, 255, 255), (32, 33, 36), (232, 232, 232), (242, 242, 242), (60, 60, 60)),
    ((248, 248, 246), (43, 43, 43), (222, 222, 220), (236, 236, 233), (70, 70, 70)),
    ((253, 246, 227), (59, 58, 54), (238, 232, 213), (245, 238, 218), (88, 80, 64)),
    ((239, 243, 248), (29, 39, 51), (214, 222, 232), (226, 232, 240), (50, 60, 75)),
)
SHOT_DARK = (
    ((30, 30, 30), (212, 212, 212), (50, 50, 51), (37, 37, 38), (204, 204, 204)),
    ((32, 33, 36), (232, 234, 237), (53, 54, 58), (41, 42, 45), (189, 193, 198)),
)

# The photo: the text printed on an A4 page (300 dpi, Korean word processors' 160% line
# spacing), photographed by a phone held over the desk.
PHOTO_PAGE = (2480, 3508)
PHOTO_MARGIN = (295, 354)  # 25 mm left/right, 30 mm top/bottom
PHOTO_PT = (12, 11, 10, 9)  # the largest of these at which the whole answer fits the page
PHOTO_SENSORS = ((3024, 4032), (3000, 4000), (2448, 3264), (2736, 3648))  # phones, portrait
PHOTO_SENT = 2048  # the long side of the photo as it is passed on
PHOTO_TURN_DEG = 3.0  # the page turned by a seeded angle in [-PHOTO_TURN_DEG, PHOTO_TURN_DEG]
PHOTO_QUALITY = (60, 75)  # JPEG quality, drawn from this range (inclusive)
# the paper's colours, the ink's, the desk's
PHOTO_PAPER = ((246, 245, 240), (250, 250, 250), (243, 241, 232))
PHOTO_INK = (28, 28, 32)
PHOTO_DESKS = ((150, 112, 78), (118, 118, 116), (64, 58, 52), (196, 190, 178))


def blocks_of(text: str) -> list[list[str]]:
    """The answer's blocks (paragraphs, `<pre>` excerpts, lists), each a list of lines."""
    return [b.split("\n") for b in text.strip("\n").split("\n\n") if b.strip()]


def lines_of(text: str) -> list[str]:
    return [line for block in blocks_of(text) for line in block]


def fixed_zip(data: bytes, settle_xml: Callable[[bytes], bytes] | None = None) -> bytes:
    """The same zip with every member's time fixed (writers stamp the time of the run),
    and each .xml member passed through `settle_xml` when given.

    Member order, names and compression stay as the writer chose them.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, ZIP_TIME)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            content = src.read(info.filename)
            if settle_xml is not None and info.filename.endswith(".xml"):
                content = settle_xml(content)
            dst.writestr(fixed, content)
    return out.getvalue()


def write_docx(text: str, stem: str) -> bytes:
    import docx

    doc = docx.Document()
    props = doc.core_properties
    props.author = props.last_modified_by = "debian-faq-ko"
    props.created = props.modified = WHEN
    props.revision = 1
    for line in lines_of(text):
        doc.add_paragraph(line)
    buf = io.BytesIO()
    doc.save(buf)
    return fixed_zip(buf.getvalue())


def write_pptx(text: str, stem: str) -> bytes:
    """Slides of at most ~700 characters, each one text box; no titles (they would be
    the question)."""
    from pptx import Presentation
    from pptx.util import Emu, Pt

    prs = Presentation()
    props = prs.core_properties
    props.author = props.last_modified_by = "debian-faq-ko"
    props.created = props.modified = WHEN
    props.revision = 1
    props.title = stem
    slides: list[list[str]] = [[]]
    size = 0
    for block in blocks_of(text):
        chars = sum(len(line) for line in block)
        if slides[-1] and size + chars > 700:
            slides.append([])
            size = 0
        slides[-1].extend(block)
        size += chars
    width, height = prs.slide_width or Emu(9144000), prs.slide_height or Emu(6858000)
    for lines in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank
        box = slide.shapes.add_textbox(
            Emu(457200), Emu(457200), Emu(width - 914400), Emu(height - 914400)
        )
        frame = box.text_frame
        frame.word_wrap = True
        for n, line in enumerate(lines):
            para = frame.paragraphs[0] if n == 0 else frame.add_paragraph()
            para.text = line
            para.font.size = Pt(14)
    buf = io.BytesIO()
    prs.save(buf)
    return fixed_zip(buf.getvalue())


def write_xlsx(text: str, stem: str) -> bytes:
    """One row per line in column A; a table row (cells joined by ' | ') over several cells."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.properties.creator = wb.properties.lastModifiedBy = "debian-faq-ko"
    ws = wb.active
    assert ws is not None
    ws.title = "Sheet1"
    for line in lines_of(text):
        ws.append(line.split(" | ") if " | " in line else [line])
    buf = io.BytesIO()
    wb.save(buf)
    return fixed_zip(fix_core_dates(buf.getvalue()))


def fix_core_dates(data: bytes) -> bytes:
    """openpyxl stamps docProps/core.xml with the time of the save: put WHEN there."""
    stamp = WHEN.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp + rb"\g<2>",
                    body,
                )
            dst.writestr(info, body, compress_type=info.compress_type)
    return out.getvalue()


def write_odt(text: str, stem: str) -> bytes:
    from odf import teletype
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    doc = OpenDocumentText()
    for line in lines_of(text):
        para = P()
        teletype.addTextToElement(para, line)
        doc.text.addElement(para)
    buf = io.BytesIO()
    doc.write(buf)
    return fixed_zip(buf.getvalue(), settle_xml=_used_namespaces_only)


_XMLNS = re.compile(rb'\s+xmlns:([\w.-]+)="([^"]*)"')


def _used_namespaces_only(xml: bytes) -> bytes:
    """The root element declaring the namespaces the document uses, sorted by prefix.

    odfpy declares every namespace any of its elements used before in the process (a
    class-wide dict), so its output would depend on what else ran first."""
    start = xml.index(b"<", xml.index(b"?>") + 2 if xml.startswith(b"<?xml") else 0)
    end = xml.index(b">", start)
    root, rest = xml[start:end], xml[end:]
    declared = dict(_XMLNS.findall(root))
    used = {p for p in declared if re.search(rb"[<\s/]" + re.escape(p) + rb":", root + rest)}
    bare = _XMLNS.sub(b"", root)
    head, _, tail = bare.partition(b" ")
    attrs = b"".join(b' xmlns:%s="%s"' % (p, declared[p]) for p in sorted(used))
    return xml[:start] + head + attrs + (b" " + tail if tail else b"") + rest


def write_hwpx(text: str, stem: str) -> bytes:
    """hwpforge: an empty document from its Markdown bridge, then the lines inserted as
    plain paragraphs (so nothing in the text is read as Markdown)."""
    import hwpforge

    doc = hwpforge.convert_md(" ").document
    doc = doc.insert_para(section=0, anchor=0, text=lines_of(text)).document
    return fixed_zip(doc.to_bytes())


# The labels Korean mailers put on CP949 bytes: EUC-KR (its KS X 1001 part, which CP949
# extends) and Outlook's ks_c_5601-1987, the latter base64-encoded as Outlook sends it.
LEGACY_MAIL = (("euc-kr", "8bit"), ("ks_c_5601-1987", "base64"))


def write_eml(text: str, stem: str, n: int) -> bytes:
    """Mail number n of the set: even ones UTF-8, odd ones CP949 bytes under a legacy label
    (where the text has a character outside CP949, UTF-8 instead)."""
    msg = EmailMessage(policy=policy.default)
    msg["Subject"] = stem
    msg["From"] = "debian-faq-ko <faq@example.org>"
    msg["To"] = "reader@example.org"
    msg["Date"] = (WHEN + dt.timedelta(minutes=n)).strftime("%a, %d %b %Y %H:%M:%S +0900")
    msg["Message-ID"] = f"<{stem}@example.org>"
    body = "\n\n".join("\n".join(block) for block in blocks_of(text)) + "\n"
    try:
        legacy = body.encode("cp949") if n % 2 else None
    except UnicodeEncodeError:
        legacy = None
    if legacy is None:
        msg.set_content(body, charset="utf-8")
    else:
        label, cte = LEGACY_MAIL[n // 2 % 2]
        msg.set_content(
            legacy, maintype="text", subtype="plain", cte=cte, params={"charset": label}
        )
    return msg.as_bytes()


def rtf_escape(line: str) -> str:
    out = []
    for ch in line:
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch == "\t":
            out.append("\\tab ")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            try:
                out.append("".join(f"\\'{b:02x}" for b in ch.encode("cp949")))
            except UnicodeEncodeError:  # outside CP949: RTF's Unicode escape, '?' as fallback
                for unit in _utf16_units(ch):
                    out.append(f"\\u{unit - 65536 if unit > 32767 else unit}?")
    return "".join(out)


def _utf16_units(ch: str) -> list[int]:
    raw = ch.encode("utf-16-be")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def write_rtf(text: str, stem: str) -> bytes:
    head = (
        "{\\rtf1\\ansi\\ansicpg949\\deff0\n"
        "{\\fonttbl{\\f0\\fnil\\fcharset129 Batang;}{\\f1\\fmodern\\fcharset129 GulimChe;}}\n"
        "\\uc1\\pard\\f0\\fs22\n"
    )
    parts = []
    for block in blocks_of(text):
        preformatted = len(block) > 1 and not all(line.startswith("- ") for line in block)
        font = "\\f1 " if preformatted else "\\f0 "
        parts.append(font + "\\line\n".join(rtf_escape(line) for line in block) + "\\par\n")
    return (head + "".join(parts) + "}\n").encode("ascii")


def _xhtml_block(block: list[str]) -> str:
    if all(line.startswith("- ") for line in block):
        items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in block)
        return f"<ul>{items}</ul>"
    if len(block) > 1:
        return "<pre>" + html.escape("\n".join(block)) + "</pre>"
    return f"<p>{html.escape(block[0])}</p>"


def write_epub(text: str, stem: str) -> bytes:
    """EPUB 3 by hand (OCF zip, OPF package, nav, XHTML chapters of ~1,500 characters)."""
    chapters: list[list[list[str]]] = [[]]
    size = 0
    for block in blocks_of(text):
        chars = sum(len(line) for line in block)
        if chapters[-1] and size + chars > 1500:
            chapters.append([])
            size = 0
        chapters[-1].append(block)
        size += chars
    book_id = uuid.uuid5(uuid.NAMESPACE_URL, f"debian-faq-ko/{stem}")
    manifest = "".join(
        f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(1, len(chapters) + 1)
    )
    itemrefs = "".join(f'<itemref idref="c{i}"/>' for i in range(1, len(chapters) + 1))
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:uuid:{book_id}</dc:identifier>'
        f"<dc:title>{stem}</dc:title><dc:language>ko</dc:language>"
        f'<meta property="dcterms:modified">{WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")}</meta>'
        "</metadata><manifest>"
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        f"{manifest}</manifest><spine>{itemrefs}</spine></package>\n"
    )
    links = "".join(f'<li><a href="c{i}.xhtml">{i}</a></li>' for i in range(1, len(chapters) + 1))
    nav = _xhtml(stem, f'<nav epub:type="toc"><ol>{links}</ol></nav>')
    container = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" '
        'media-type="application/oebps-package+xml"/></rootfiles></container>\n'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", ZIP_TIME), "application/epub+zip")
        members = {"META-INF/container.xml": container, "OEBPS/content.opf": opf}
        members["OEBPS/nav.xhtml"] = nav
        for i, chapter in enumerate(chapters, start=1):
            members[f"OEBPS/c{i}.xhtml"] = _xhtml(
                stem, "".join(_xhtml_block(block) for block in chapter)
            )
        for name, body in members.items():
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body.encode("utf-8"))
    return out.getvalue()


def _xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="ko" lang="ko">'
        f"<head><title>{title}</title></head><body>{body}</body></html>\n"
    )


def _font(index_name: str, size: int, path: Path = FONT):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    if path.is_file():
        for index in range(16):
            font = ImageFont.truetype(str(path), size, index=index)
            if font.getname()[0] == index_name:
                return font
    raise SystemExit(f"{path} has no face {index_name!r}: apt-get install fonts-noto-cjk")


def _rng(stem: str):  # type: ignore[no-untyped-def]
    """The generator of every random choice made for document `stem`."""
    import numpy as np

    return np.random.default_rng(int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "big"))


def wrap(line: str, font, width: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Break a line at spaces to fit `width` pixels, inside a word where one word is wider."""
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        trial = f"{current} {word}" if current else word
        if font.getlength(trial) <= width:
            current = trial
            continue
        if current:
            out.append(current)
        current = ""
        for ch in word:
            if font.getlength(current + ch) > width:
                out.append(current)
                current = ""
            current += ch
    out.append(current)
    return out


def write_pdf(text: str, stem: str) -> bytes:
    """A scan: the text typeset on A4 pages, each page turned, blurred, dusted and saved as
    a grey JPEG picture; the PDF holds only those pictures (no text layer)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    font = _font(FONT_FACE, FONT_PX)
    width = PAGE[0] - 2 * MARGIN[0]
    per_page = (PAGE[1] - 2 * MARGIN[1]) // LINE_PX
    rows: list[str] = []
    for block in blocks_of(text):
        if rows:
            rows.append("")
        for line in block:
            rows.extend(wrap(line, font, width))
    pages = [rows[i : i + per_page] for i in range(0, len(rows), per_page)]
    rng = _rng(stem)
    images = []
    for page_rows in pages:
        page = Image.new("L", PAGE, 255)
        draw = ImageDraw.Draw(page)
        for n, row in enumerate(page_rows):
            draw.text((MARGIN[0], MARGIN[1] + n * LINE_PX), row, font=font, fill=20)
        angle = float(rng.uniform(-SKEW_DEG, SKEW_DEG))
        page = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        page = page.filter(ImageFilter.GaussianBlur(BLUR_PX))
        pixels = np.asarray(page, dtype=np.int16).copy()
        pixels -= 12  # the scanner's grey paper
        dust = rng.random(pixels.shape) < SPECKS
        pixels[dust] = rng.integers(40, 160, int(dust.sum()))
        images.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L"))
    buf = io.BytesIO()
    images[0].save(
        buf,
        "PDF",
        save_all=True,
        append_images=images[1:],
        resolution=150.0,
        quality=JPEG_QUALITY,
        title=stem,
        creationDate=WHEN.timetuple(),
        modDate=WHEN.timetuple(),
        producer="evalsets/office-ko/build.py",
    )
    return buf.getvalue()


def _rows(text: str, font, width: int) -> list[str | None]:  # type: ignore[no-untyped-def]
    """The answer's lines wrapped to `width` pixels; None between two blocks."""
    rows: list[str | None] = []
    for block in blocks_of(text):
        if rows:
            rows.append(None)
        for line in block:
            rows.extend(wrap(line, font, width))
    return rows


def shot_plan(text: str, stem: str, n: int) -> dict:  # type: ignore[type-arg]
    """Everything screenshot number n of the set looks like, before it is drawn: every
    third one a narrow, phone-like window, every fourth one in dark mode, the rest (text
    size, line spacing, theme, title bar, sidebar, margins) from the stem's generator.
    `chrome` is the text drawn besides the answer (the title; a phone's clock)."""
    rng = _rng(stem)
    narrow = n % 3 == 2
    themes = SHOT_DARK if n % 4 == 3 else SHOT_LIGHT
    theme = themes[int(rng.integers(len(themes)))]
    size = int(rng.integers(SHOT_FONT_PX[0], SHOT_FONT_PX[1] + 1))
    line_px = round(size * float(rng.uniform(1.45, 1.7)))
    gap_px = round(size * float(rng.uniform(0.5, 1.0)))
    app = SHOT_APPS[int(rng.integers(len(SHOT_APPS)))]
    mac = bool(rng.random() < 0.5)
    sidebar = int(rng.integers(200, 261)) if rng.random() < 0.5 else 0
    desktop_height = SHOT_HEIGHTS[int(rng.integers(len(SHOT_HEIGHTS)))]
    pad = int(rng.integers(28, 49))
    column = int(rng.integers(720, 1001))
    if narrow:
        width, min_height = SHOT_NARROW
        style, sidebar, top, pad = "phone", 0, 28 + 56, pad // 2  # status bar, app bar
        column = width - 2 * pad
        chrome = ["9:00", f"{stem}.txt"]
    else:
        width, min_height = SHOT_DESKTOP, desktop_height
        style, top = ("mac", 28) if mac else ("windows", 32)
        column = min(width - sidebar - 2 * pad, column)
        chrome = [f"{stem}.txt" if mac else f"{stem}.txt - {app}"]
    rows = _rows(text, _font(FONT_FACE, size), column)
    body = sum(line_px if row is not None else gap_px for row in rows)
    height = max(min_height, top + pad + body + pad)
    return {
        "style": style, "theme": theme, "size": size, "line_px": line_px, "gap_px": gap_px,
        "sidebar": sidebar, "top": top, "pad": pad, "width": width, "height": height,
        "rows": rows, "chrome": chrome,
    }  # fmt: skip


def write_png(text: str, stem: str, n: int) -> bytes:
    """A screenshot (number n of the set): a window showing the answer, captured whole, so
    a long answer gives a tall (scrolling) capture. Lossless PNG, as screenshot tools save."""
    from PIL import Image, ImageDraw

    plan = shot_plan(text, stem, n)
    bg, ink, bar, side, title_ink = plan["theme"]
    width, height, top = plan["width"], plan["height"], plan["top"]
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    edge = tuple(max(0, c - 24) if sum(bg) > 384 else min(255, c + 20) for c in bar)
    chrome = _font(FONT_FACE, 13)
    if plan["style"] == "phone":
        draw.rectangle((0, 0, width, 28), fill=bar)
        draw.text((16, 14), plan["chrome"][0], font=chrome, fill=title_ink, anchor="lm")
        for k in range(4):  # signal bars, battery
            draw.rectangle((width - 92 + 6 * k, 19 - 3 * k, width - 88 + 6 * k, 20), fill=title_ink)
        draw.rounded_rectangle((width - 52, 9, width - 26, 20), 2, outline=title_ink)
        draw.rectangle((width - 50, 11, width - 36, 18), fill=title_ink)
        draw.rectangle((0, 28, width, top), fill=bar)
        draw.line((0, top - 1, width, top - 1), fill=edge)
        arrow_y = 28 + 28
        draw.line((20, arrow_y, 36, arrow_y), fill=title_ink, width=2)
        draw.line((20, arrow_y, 27, arrow_y - 7), fill=title_ink, width=2)
        draw.line((20, arrow_y, 27, arrow_y + 7), fill=title_ink, width=2)
        title = _font(FONT_FACE, 18, BOLD)
        draw.text((64, arrow_y), plan["chrome"][1], font=title, fill=title_ink, anchor="lm")
    else:
        draw.rectangle((0, 0, width, top), fill=bar)
        draw.line((0, top - 1, width, top - 1), fill=edge)
        mid = top // 2
        if plan["style"] == "mac":
            for k, colour in enumerate(((255, 95, 87), (254, 188, 46), (40, 200, 64))):
                x = 20 + 20 * k
                draw.ellipse((x - 6, mid - 6, x + 6, mid + 6), fill=colour)
            draw.text(
                (width // 2, mid), plan["chrome"][0], font=chrome, fill=title_ink, anchor="mm"
            )
        else:
            draw.rounded_rectangle((10, mid - 8, 26, mid + 8), 3, fill=(70, 130, 200))
            draw.text((36, mid), plan["chrome"][0], font=chrome, fill=title_ink, anchor="lm")
            x = width - 138
            draw.line((x + 18, mid, x + 28, mid), fill=title_ink)  # minimise
            draw.rectangle((x + 64, mid - 5, x + 74, mid + 5), outline=title_ink)  # maximise
            draw.line((x + 110, mid - 5, x + 120, mid + 5), fill=title_ink)  # close
            draw.line((x + 110, mid + 5, x + 120, mid - 5), fill=title_ink)
        if plan["sidebar"]:
            draw.rectangle((0, top, plan["sidebar"] - 1, height), fill=side)
            draw.line((plan["sidebar"] - 1, top, plan["sidebar"] - 1, height), fill=edge)
            for k in range(6):  # the sidebar's icons
                y = top + 24 + 40 * k
                draw.rounded_rectangle((18, y, 38, y + 20), 4, fill=edge)
    font = _font(FONT_FACE, plan["size"])
    x, y = plan["sidebar"] + plan["pad"], top + plan["pad"]
    for row in plan["rows"]:
        if row is None:
            y += plan["gap_px"]
            continue
        draw.text((x, y), row, font=font, fill=ink)
        y += plan["line_px"]
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _homography(dst, src) -> tuple[float, ...]:  # type: ignore[no-untyped-def]
    """Pillow's PERSPECTIVE coefficients that take each output point in `dst` to the input
    point in `src` (four of each)."""
    import numpy as np

    a, b = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    return tuple(float(c) for c in np.linalg.solve(np.array(a, float), np.array(b, float)))


def photo_page(text: str):  # type: ignore[no-untyped-def]
    """The answer printed on an A4 page at 300 dpi (grey, 0 ink, 255 paper), in the largest
    of PHOTO_PT sizes at which it fits, and that size in points."""
    from PIL import Image, ImageDraw

    width = PHOTO_PAGE[0] - 2 * PHOTO_MARGIN[0]
    room = PHOTO_PAGE[1] - 2 * PHOTO_MARGIN[1]
    for pt in PHOTO_PT:
        size = round(pt * 300 / 72)
        line_px = round(size * 1.6)
        font = _font(SERIF_FACE, size, SERIF)
        rows = _rows(text, font, width)
        if sum(line_px if row is not None else line_px // 2 for row in rows) <= room:
            break
    else:
        raise SystemExit(f"the answer does not fit one page at {PHOTO_PT[-1]} pt")
    page = Image.new("L", PHOTO_PAGE, 255)
    draw = ImageDraw.Draw(page)
    y = PHOTO_MARGIN[1]
    for row in rows:
        if row is None:
            y += line_px // 2
            continue
        draw.text((PHOTO_MARGIN[0], y), row, font=font, fill=0)
        y += line_px
    return page, pt


def write_jpg(text: str, stem: str) -> bytes:
    """A phone's photo of the printed page: the page on a desk, turned a little, seen at a
    slant (one edge further from the lens), under light brighter on one side and dim in
    the corners (for some, the phone's shadow), slightly out of focus, with sensor noise,
    at a phone's resolution and JPEG quality."""
    import numpy as np
    from PIL import Image, ImageChops, ImageFilter

    rng = _rng(stem)
    page, _ = photo_page(text)
    width, height = PHOTO_SENSORS[int(rng.integers(len(PHOTO_SENSORS)))]
    # Where the page lands: centred near the middle, filling 80-90% of the photo's height.
    scale = float(rng.uniform(0.8, 0.9)) * height / PHOTO_PAGE[1]
    half = np.array(PHOTO_PAGE, float) * scale / 2
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * half
    slant = float(rng.uniform(0.01, 0.05))  # the far edge this much shorter
    far = int(rng.integers(4))  # 0 top, 1 right, 2 bottom, 3 left
    ends = {0: (0, 1), 1: (1, 2), 2: (2, 3), 3: (3, 0)}[far]
    axis = 0 if far in (0, 2) else 1
    for k in ends:
        corners[k, axis] *= 1 - slant
    corners += rng.uniform(-0.006, 0.006, (4, 2)) * half * 2
    turn = np.radians(float(rng.uniform(-PHOTO_TURN_DEG, PHOTO_TURN_DEG)))
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = np.array([width, height], float) / 2
    centre += rng.uniform(-0.02, 0.02, 2) * np.array([width, height])
    dst = corners @ rotation.T + centre
    src = [(0, 0), (PHOTO_PAGE[0], 0), PHOTO_PAGE, (0, PHOTO_PAGE[1])]
    coeffs = _homography(dst, src)
    perspective, bicubic = Image.Transform.PERSPECTIVE, Image.Resampling.BICUBIC
    seen = page.transform((width, height), perspective, coeffs, bicubic, fillcolor=255)
    mask = Image.new("L", PHOTO_PAGE, 255).transform(
        (width, height), perspective, coeffs, Image.Resampling.BILINEAR, fillcolor=0
    )
    offset = rng.integers(6, 19, 2)
    shadow = ImageChops.offset(mask, int(offset[0]), int(offset[1]))
    shadow = shadow.filter(ImageFilter.GaussianBlur(float(rng.uniform(12, 30))))
    # The desk, its colour varying slowly; the page's shadow on it; the page on top.
    desk_rgb = np.array(PHOTO_DESKS[int(rng.integers(len(PHOTO_DESKS)))], float)
    shade = rng.normal(0, 8, (6, 8, 1)) + rng.normal(0, 2, (6, 8, 3))
    tiles = np.clip(desk_rgb + shade, 0, 255).astype(np.uint8)
    desk = np.asarray(
        Image.fromarray(tiles, "RGB").resize((width, height), bicubic), dtype=np.float32
    )
    desk *= 1 - 0.45 * (np.asarray(shadow, dtype=np.float32) / 255)[..., None]
    paper = np.array(PHOTO_PAPER[int(rng.integers(len(PHOTO_PAPER)))], np.float32)
    ink = np.array(PHOTO_INK, np.float32)
    lum = (np.asarray(seen, dtype=np.float32) / 255)[..., None]
    on_page = (np.asarray(mask, dtype=np.float32) / 255)[..., None]
    pixels = desk + (ink + (paper - ink) * lum - desk) * on_page
    del desk, lum, on_page
    photo = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
    photo = photo.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.9, 1.6))))
    # The light: brighter on one side, dimmer in the corners, for some the phone's shadow.
    small = (width // 16, height // 16)
    yy, xx = np.mgrid[-1 : 1 : small[1] * 1j, -1 : 1 : small[0] * 1j]
    toward = float(rng.uniform(0, 2 * np.pi))
    side = ((xx * np.cos(toward) + yy * np.sin(toward)) / np.sqrt(2) + 1) / 2
    light = 1 - float(rng.uniform(0.12, 0.3)) * side
    light *= 1 - float(rng.uniform(0.12, 0.28)) * (xx**2 + yy**2) / 2
    blob = rng.uniform(-1, 1, 2) * np.array([1.0, 1.2])
    dim = float(rng.uniform(0.15, 0.3)) if rng.random() < 0.4 else 0.0
    light *= 1 - dim * np.exp(-((xx - blob[0]) ** 2 / 0.5 + (yy - blob[1]) ** 2 / 0.3))
    light *= float(rng.uniform(0.9, 1.02))
    field = Image.fromarray(light.astype(np.float32), "F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    tint = np.array(((1.0, 0.97, 0.88), (1.0, 1.0, 1.0), (0.95, 0.98, 1.0))[int(rng.integers(3))])
    pixels = np.asarray(photo, dtype=np.float32)
    pixels *= np.asarray(field, dtype=np.float32)[..., None] * tint.astype(np.float32)
    # The sensor's noise: grain on every pixel, coarser colour noise.
    pixels += rng.standard_normal((height, width), dtype=np.float32)[..., None] * float(
        rng.uniform(2.0, 4.0)
    )
    chroma = rng.standard_normal(((height + 1) // 2, (width + 1) // 2, 3), dtype=np.float32)
    chroma = chroma.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    pixels += chroma * float(rng.uniform(1.0, 2.5))
    del chroma
    photo = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
    # Sent on, as mail and messengers send photos by default: scaled down (the set stays small)
    sent = PHOTO_SENT / max(width, height)
    photo = photo.resize((round(width * sent), round(height * sent)), Image.Resampling.LANCZOS)
    exif = Image.Exif()
    exif[0x0131] = "evalsets/office-ko/build.py"  # Software
    exif[0x0132] = WHEN.strftime("%Y:%m:%d %H:%M:%S")  # DateTime
    quality = int(rng.integers(PHOTO_QUALITY[0], PHOTO_QUALITY[1] + 1))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=quality, subsampling=2, exif=exif.tobytes())
    return buf.getvalue()


def build(out: Path = HERE) -> dict[str, list[str]]:
    """Write docs/ and qrels.tsv under `out`; the document names by format."""
    docs = out / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir(parents=True)
    sources = sorted((SOURCE / "docs").glob("*.txt"))
    renamed: dict[str, str] = {}
    by_format: dict[str, list[str]] = {f: [] for f in FORMATS}
    for i, src in enumerate(sources):
        fmt = FORMATS[i % len(FORMATS)]
        text = src.read_text(encoding="utf-8")
        stem = src.stem
        if fmt == "eml":
            data = write_eml(text, stem, len(by_format["eml"]))
        elif fmt == "png":
            data = write_png(text, stem, len(by_format["png"]))
        else:
            data = WRITERS[fmt](text, stem)
        name = f"{stem}.{fmt}"
        (docs / name).write_bytes(data)
        renamed[src.name] = name
        by_format[fmt].append(name)
    lines = (SOURCE / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        query, relevant, kind = line.split("\t")
        rows.append(f"{query}\t{renamed[relevant]}\t{kind}")
    (out / "qrels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return by_format


WRITERS = {
    "docx": write_docx,
    "pptx": write_pptx,
    "xlsx": write_xlsx,
    "odt": write_odt,
    "hwpx": write_hwpx,
    "rtf": write_rtf,
    "epub": write_epub,
    "pdf": write_pdf,
    "jpg": write_jpg,
}


def main() -> None:
    by_format = build()
    total = sum(p.stat().st_size for p in (HERE / "docs").iterdir())
    for fmt, names in by_format.items():
        size = sum((HERE / "docs" / n).stat().st_size for n in names)
        print(f"{fmt:5} {len(names):3} files {size:9,} bytes")
    print(f"all   {sum(map(len, by_format.values())):3} files {total:9,} bytes")


if __name__ == "__main__":
    main()
