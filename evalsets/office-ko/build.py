#!/usr/bin/env python3
"""Build evalsets/office-ko/ from evalsets/debian-faq-ko/: the same Korean answers, each
written into one office format by a writer that is not semsearch's reader.

    .venv/bin/python evalsets/office-ko/build.py

Answer number i (the debian-faq-ko documents in name order) goes to FORMATS[i % 9], keeping
its stem (`01-01.txt` -> `01-01.docx`), so the queries of debian-faq-ko/qrels.tsv ask the
same texts; this set's qrels.tsv is that file with the new names. The writers:

  docx  python-docx        pptx  python-pptx      xlsx  openpyxl       odt  odfpy
  hwpx  hwpforge (Rust)    eml   the email package (half of them CP949, labelled legacy-style)
  rtf   written here, \\'XX CP949 escapes          epub  written here (zip + XHTML, EPUB 3)
  pdf   a scan: pages rendered with Pillow and Noto Sans CJK KR, skewed, blurred, speckled,
        saved as JPEG pictures in an image-only PDF (no text layer)

Everything written is a pure function of the debian-faq-ko files (and, for the scans, of
the installed Pillow and fonts-noto-cjk): fixed dates in every file, zip members with a
fixed time, noise from a generator seeded by the document's name. Running it twice gives
byte-identical files. The writers are the `dev` extra's (pip install -e '.[dev]').
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
FORMATS = ("docx", "pptx", "xlsx", "odt", "hwpx", "eml", "rtf", "epub", "pdf")
WHEN = dt.datetime(2021, 12, 6, 9, 0, 0)  # every file's creation and modification date
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_FACE = "Noto Sans CJK KR"

# The scan: an A4 page at 150 dpi, 11.5 pt text, then what a cheap scanner does to it.
PAGE = (1240, 1754)
MARGIN = (110, 130)  # left/right, top/bottom, in pixels
FONT_PX = 24
LINE_PX = 37
SKEW_DEG = 1.2  # each page turned by a seeded angle in [-SKEW_DEG, SKEW_DEG]
BLUR_PX = 0.7
SPECKS = 0.0004  # share of pixels turned into dark dust
JPEG_QUALITY = 40


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
    return fixed_zip(_fixed_core_dates(buf.getvalue()))


def _fixed_core_dates(data: bytes) -> bytes:
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


def _font(index_name: str, size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    for index in range(16):
        font = ImageFont.truetype(str(FONT), size, index=index)
        if font.getname()[0] == index_name:
            return font
    raise SystemExit(f"{FONT} has no face {index_name!r}: apt-get install fonts-noto-cjk")


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
    seed = int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
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
