"""Hostile office files: each is skipped with its reason, fast, and the run goes on.

A truncated HWP, an HWP whose body inflates past the limits (and a stream that
would inflate to gigabytes), spreadsheets that claim or repeat a billion
cells, and mails of ten thousand MIME parts, flat or nested.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from pathlib import Path

import olefile
import pytest
from helpers import run_index
from test_formats import DATA, write_xlsx

import indexer.formats.sheets
from indexer.extract import extract_text_bytes
from indexer.formats.unpack import Budget
from searchengine import Index
from searchengine.config import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES
from searchengine.errors import ExtractionError

SAMPLE_HWP = DATA / "sample_document.hwp"


def _extract(data: bytes, ext: str) -> list:  # type: ignore[type-arg]
    return extract_text_bytes(data, ext)


# HWP


def truncated_hwp() -> bytes:
    return SAMPLE_HWP.read_bytes()[:12_000]


def _direntry(data: bytearray, name: str) -> int:
    """Where the OLE directory entry of `name` starts (entries are 128 bytes, name first)."""
    raw = name.encode("utf-16-le") + b"\0\0"
    at = data.find(raw)
    while at != -1 and (at % 128 or struct.unpack_from("<H", data, at + 64)[0] != len(raw)):
        at = data.find(raw, at + 1)
    assert at != -1, name
    return at


def hwp_bomb(tmp_path: Path) -> Path:
    """The sample with its body section swapped for a deflate stream of 16 MB of zeros.

    The section takes over the 16 KB stream of the preview image (its directory
    entry is pointed there), so olefile can write the bomb in place.
    """
    data = bytearray(SAMPLE_HWP.read_bytes())
    section, preview = _direntry(data, "Section0"), _direntry(data, "PrvImage")
    start, size = struct.unpack_from("<IQ", data, preview + 116)
    struct.pack_into("<IQ", data, section + 116, start, size)
    struct.pack_into("<IQ", data, preview + 116, 0xFFFFFFFE, 0)  # an empty stream now
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = squeeze.compress(bytes(16 << 20)) + squeeze.flush()
    assert len(bomb) <= size
    path = tmp_path / "bomb.hwp"
    path.write_bytes(bytes(data))
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        ole.write_stream("BodyText/Section0", bomb + bytes(size - len(bomb)))
    return path


def test_truncated_hwp_is_skipped_as_damaged() -> None:
    for cut in (600, 12_000, 25_000):
        with pytest.raises(ExtractionError, match="truncated|damaged"):
            _extract(SAMPLE_HWP.read_bytes()[:cut], ".hwp")


def test_hwp_body_that_inflates_past_the_limits_is_refused(tmp_path: Path) -> None:
    data = hwp_bomb(tmp_path).read_bytes()
    with pytest.raises(ExtractionError, match="200 times its size .*decompression bomb"):
        _extract(data, ".hwp")  # the default limits: 25 KB may unpack to 5 MB
    with pytest.raises(ExtractionError, match="past the 1,000,000-byte limit"):
        extract_text_bytes(data, ".hwp", max_unpacked_bytes=1_000_000, max_unpack_ratio=1e9)


def test_a_stream_that_would_inflate_to_gigabytes_stops_at_the_limit() -> None:
    # blocks flushed with Z_FULL_FLUSH stand alone, so one repeated makes a 4 GiB stream
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = squeeze.compress(bytes(1 << 20)) + squeeze.flush(zlib.Z_FULL_FLUSH)
    stream = block * 4096 + squeeze.flush()
    started = time.monotonic()
    budget = Budget(len(stream), DEFAULT_MAX_UNPACKED_BYTES, DEFAULT_MAX_UNPACK_RATIO)
    with pytest.raises(ExtractionError, match="past the 268,435,456-byte limit"):
        budget.inflate(stream, raw=True)
    assert time.monotonic() - started < 5
    whole = zlib.compress(bytes(range(256)) * 40)
    cut = whole[: len(whole) // 2]
    with pytest.raises(ExtractionError, match="truncated compressed stream"):
        Budget(len(cut), 1 << 20, 200).inflate(cut, raw=False)


# spreadsheets

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def xlsx_with_sheet(sheet_xml: str, shared_strings: str = "") -> bytes:
    """A workbook of one sheet, written by hand (no writer would write a lying one)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            '<sheet name="큰 시트" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="worksheet"/>'
            "</Relationships>",
        )
        if shared_strings:
            zf.writestr("xl/sharedStrings.xml", shared_strings)
        zf.writestr(
            "xl/worksheets/sheet1.xml", f'<worksheet xmlns="{_MAIN}">{sheet_xml}</worksheet>'
        )
    return out.getvalue()


def billion_cell_claim() -> bytes:
    """A sheet whose dimension, and last cell, claim 16384 x 1048576 cells; two are there."""
    return xlsx_with_sheet(
        '<dimension ref="A1:XFD1048576"/><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>첫 칸</t></is></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>42</v></c></row></sheetData>'
    )


def test_a_sheet_claiming_a_billion_cells_costs_only_the_cells_it_has() -> None:
    started = time.monotonic()
    (sheet,) = _extract(billion_cell_claim(), ".xlsx")
    assert sheet.text.splitlines() == ["큰 시트", "첫 칸", "42"]
    assert time.monotonic() - started < 1


def test_a_sheet_of_more_cells_than_the_cap_is_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(indexer.formats.sheets, "MAX_CELLS", 1_000)
    rows = "".join(
        f'<row r="{r}">' + "".join(f"<c><v>{r * 7 + c}</v></c>" for c in range(10)) + "</row>"
        for r in range(1, 201)
    )
    with pytest.raises(ExtractionError, match="more than 1,000 filled cells"):
        _extract(xlsx_with_sheet(f"<sheetData>{rows}</sheetData>"), ".xlsx")


def test_shared_strings_repeated_past_the_unpacking_limit_are_refused() -> None:
    long = "가" * 100_000
    strings = f'<sst xmlns="{_MAIN}"><si><t>{long}</t></si></sst>'
    row = "<row>" + '<c t="s"><v>0</v></c>' * 100 + "</row>"
    data = xlsx_with_sheet("<sheetData>" + row * 100 + "</sheetData>", strings)
    started = time.monotonic()  # 10,000 cells of 100,000 characters: a gigabyte of text
    with pytest.raises(ExtractionError, match="characters of cell text"):
        extract_text_bytes(data, ".xlsx", max_unpacked_bytes=50_000_000)
    assert time.monotonic() - started < 2


def test_a_sheet_of_a_billion_real_cells_is_refused_before_parsing() -> None:
    row = "<row>" + "<c><v>1</v></c>" * 1000 + "</row>"
    data = xlsx_with_sheet("<sheetData>" + row * 2000 + "</sheetData>")  # 32 MB of XML
    with pytest.raises(ExtractionError, match="zip bomb"):
        _extract(data, ".xlsx")


def test_an_xls_with_its_last_possible_cell_filled_costs_only_its_cells(tmp_path: Path) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("끝")
    sheet.write(0, 0, "처음")
    sheet.write(65535, 255, "마지막")  # 65,536 x 256 cells, if the empty ones were kept
    book.save(str(tmp_path / "far.xls"))
    started = time.monotonic()
    (passage,) = _extract((tmp_path / "far.xls").read_bytes(), ".xls")
    assert passage.text.splitlines() == ["끝", "처음", "\t" * 255 + "마지막"]
    assert time.monotonic() - started < 2


def ods_with_repeats(cell: str) -> bytes:
    table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    content = (
        f'<office:document-content xmlns:office="{office}" xmlns:table="{table}" '
        f'xmlns:text="{text}"><office:body><office:spreadsheet><table:table table:name="반복">'
        f"<table:table-row><table:table-cell><text:p>머리</text:p></table:table-cell>"
        f'<table:table-cell table:number-columns-repeated="16383"/></table:table-row>'
        f'<table:table-row table:number-rows-repeated="1000000000">{cell}</table:table-row>'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("content.xml", content)
    return out.getvalue()


def test_ods_rows_and_cells_repeated_a_billion_times() -> None:
    empty = '<table:table-cell table:number-columns-repeated="1000000000"/>'
    started = time.monotonic()
    (sheet,) = _extract(ods_with_repeats(empty), ".ods")
    assert sheet.text.splitlines() == ["반복", "머리"]
    filled = (
        '<table:table-cell table:number-columns-repeated="1000000000">'
        "<text:p>x</text:p></table:table-cell>"
    )
    with pytest.raises(ExtractionError, match="filled cells"):
        _extract(ods_with_repeats(filled), ".ods")
    assert time.monotonic() - started < 2


def test_xml_entity_bombs_are_refused_not_expanded() -> None:
    laughs = "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10)
    )
    content = (
        f'<?xml version="1.0"?><!DOCTYPE d [{laughs}]>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
        "<text:p>웃음 &l9;</text:p></office:text></office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("content.xml", content)
    started = time.monotonic()
    with pytest.raises(ExtractionError, match="bad XML: Maximum entity amplification"):
        _extract(out.getvalue(), ".odt")  # libxml2 refuses it rather than expanding it
    assert time.monotonic() - started < 1


# mail


def mail_of_parts(n: int) -> bytes:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(n))
    return (
        b"Subject: many\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts.encode() + b"--b--\r\n"
    )


def mail_nested(depth: int) -> bytes:
    head = "".join(
        f'--n{i - 1}\r\nContent-Type: multipart/mixed; boundary="n{i}"\r\n\r\n' if i else ""
        for i in range(depth)
    )
    return (
        b"Subject: deep\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="n0"\r\n\r\n'
        + head.encode()
        + f"--n{depth - 1}\r\nContent-Type: text/plain\r\n\r\nbottom\r\n".encode()
    )


def test_mail_of_ten_thousand_parts_is_refused() -> None:
    started = time.monotonic()
    with pytest.raises(ExtractionError, match="more than 1,000 MIME parts"):
        _extract(mail_of_parts(10_000), ".eml")
    with pytest.raises(ExtractionError, match="more than 100 MIME containers"):
        _extract(mail_nested(10_000), ".eml")
    assert time.monotonic() - started < 2
    (ok,) = _extract(mail_of_parts(3), ".eml")  # an ordinary multipart mail
    assert ok.text.startswith("Subject: many") and "part 0" in ok.text


# all of them in one run


def test_a_run_over_hostile_office_files_skips_each_and_goes_on(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "truncated.hwp").write_bytes(truncated_hwp())
    hwp_bomb(folder)
    (folder / "claim.xlsx").write_bytes(billion_cell_claim())
    (folder / "parts.eml").write_bytes(mail_of_parts(10_000))
    (folder / "nested.eml").write_bytes(mail_nested(10_000))
    write_xlsx(folder / "good.xlsx", "quokka")
    report = run_index(folder, fake_settings, encoders)
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert set(reasons) == {"truncated.hwp", "bomb.hwp", "parts.eml", "nested.eml"}
    assert "truncated" in reasons["truncated.hwp"]
    assert "decompression bomb" in reasons["bomb.hwp"]
    assert "MIME parts" in reasons["parts.eml"] and "containers" in reasons["nested.eml"]
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        hits = index.search("quokka", k=3, mode="lexical")
        assert [Path(h.path).name for h in hits] == ["good.xlsx"]
        assert [Path(h.path).name for h in index.search("첫 칸", mode="lexical")] == ["claim.xlsx"]
        assert index.verify().clean
