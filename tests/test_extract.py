"""Extraction of each format, and the reasons given for files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import minimal_pdf
from PIL import Image

from indexer.extract import decode_text, extract_text_bytes
from searchengine.errors import ExtractionError
from searchengine.models.images import load_image
from searchengine.records import Passage


def _extract(path: Path) -> list[Passage]:
    """Passages of a file, read the way the read worker reads it: bytes, then parse."""
    return extract_text_bytes(path.read_bytes(), path.suffix.lower())


def test_korean_legacy_encodings_decode(tmp_path: Path) -> None:
    text = "승용차를 사려면 자동차 보험과 세금을 먼저 알아보세요. 비용이 많이 듭니다."
    for codec in ("cp949", "euc-kr", "utf-16", "utf-8-sig"):
        assert decode_text(text.encode(codec)) == text, codec


def test_binary_and_empty_text_are_refused() -> None:
    with pytest.raises(ExtractionError, match="binary"):
        decode_text(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50)
    with pytest.raises(ExtractionError, match="empty"):
        decode_text(b"  \n ")


def test_html_gives_visible_text_only(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        "<html><head><title>T</title><style>.x{color:red}</style></head><body>"
        "<script>var secret = 1;</script><p>보이는 글</p>"
        "<div>and <b>visible</b></div></body></html>"
    )
    (passage,) = _extract(page)
    assert "보이는 글" in passage.text and "visible" in passage.text
    assert "secret" not in passage.text and "color" not in passage.text


def test_html_keeps_the_text_after_comments_and_hidden_parts() -> None:
    from indexer.formats.text import html_text

    page = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<html xmlns="http://www.w3.org/1999/xhtml"><body>'
        "<pre>code</pre><!-- a comment -->after the comment"
        "<ul><li><!-- /@w --> 1 liter nettles</li><li>2 butter</li></ul>"
        "<svg><text>drawn</text></svg>after the drawing <b>bold</b>tail"
        "<script>hidden()</script>\x00the end</body></html>"
    )
    text = html_text(page.encode("utf-8"))
    assert text.split("\n") == [
        "code", "after the comment", "1 liter nettles", "2 butter",
        "after the drawing", "bold", "tail", "the end",
    ]  # fmt: skip
    declared = '<meta charset="latin-1">caf\xe9 <b>cr\xe8me</b>'.encode("latin-1")
    assert html_text(declared) == "caf\xe9\ncr\xe8me"
    assert html_text(b"  \n ") == "" and html_text("") == ""


def test_pdf_pages_keep_their_numbers(tmp_path: Path) -> None:
    pdf = tmp_path / "two.pdf"
    pdf.write_bytes(minimal_pdf(["the first page is about cars", "the second page is about dogs"]))
    passages = _extract(pdf)
    assert [(p.page, "dogs" in p.text) for p in passages] == [(1, False), (2, True)]


def test_encrypted_pdf_is_skipped_with_its_reason(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = tmp_path / "plain.pdf"
    plain.write_bytes(minimal_pdf(["secret text"]))
    writer = PdfWriter()
    writer.append(PdfReader(plain))
    writer.encrypt("hunter2", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as fh:
        writer.write(fh)
    with pytest.raises(ExtractionError, match="encrypted PDF"):
        _extract(locked)


def test_broken_pdf_and_docx(tmp_path: Path) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    (tmp_path / "bad.docx").write_bytes(b"PK not a zip really")
    with pytest.raises(ExtractionError, match="PDF"):
        _extract(tmp_path / "bad.pdf")
    with pytest.raises(ExtractionError, match="docx"):
        _extract(tmp_path / "bad.docx")


def test_docx_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("강아지와 산책하기")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "price"
    table.rows[0].cells[1].text = "3,000,000"
    d.save(str(tmp_path / "a.docx"))
    (passage,) = _extract(tmp_path / "a.docx")
    assert "강아지와 산책하기" in passage.text and "3,000,000" in passage.text


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg", 1024).size == (20, 40)


def test_huge_images_are_downscaled_and_bombs_refused(tmp_path: Path) -> None:
    Image.new("RGB", (5000, 3000), "blue").save(tmp_path / "big.jpg", quality=50)
    out = load_image(tmp_path / "big.jpg", 512)
    assert max(out.size) <= 512 and out.mode == "RGB"
    with pytest.raises(ExtractionError, match="too large"):
        load_image(tmp_path / "big.jpg", 512, max_pixels=1_000_000)


def test_transparent_png_gets_a_white_background(tmp_path: Path) -> None:
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert load_image(tmp_path / "t.png", 64).getpixel((5, 5)) == (255, 255, 255)
