"""The office formats: each read from bytes made by an independent writer, place kept.

HWP and HWPX are the real samples from extract-hwp's source package (BSD-3,
tests/data/formats/LICENSE-extract-hwp); the others are written here by
python-pptx, openpyxl, xlwt, odfpy, the standard library's email package, or by hand
(EPUB, RTF), each with words that only that file holds.
"""

from __future__ import annotations

import io
import struct
import zipfile
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import run_index

from indexer.extract import extract_text_bytes
from indexer.formats import hwp, hwpx
from indexer.formats.unpack import Budget
from searchengine import Index
from searchengine.errors import ExtractionError
from searchengine.files import FORMATS, place_of
from searchengine.filters import make_filters
from searchengine.records import Passage

DATA = Path(__file__).parent / "data" / "formats"
ANTHEM = "동해 물과 백두산이 마르고 닳도록"


def _extract(path: Path) -> list[Passage]:
    """Passages of a file, read the way the read worker reads it: bytes, then parse."""
    return extract_text_bytes(path.read_bytes(), path.suffix.lower())


# writers


def write_pptx(path: Path, word: str = "zeppelin") -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "자동차 보험 안내"
    first.placeholders[1].text = "보험료는 해마다 바뀝니다"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "요금표"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (r, c), text in {(0, 0): "차종", (0, 1): "금액", (1, 0): word, (1, 1): "30만원"}.items():
        table.cell(r, c).text = text
    group = second.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(4), Inches(3), Inches(1))
    box.text_frame.text = "묶음 안의 글상자"
    second.notes_slide.notes_text_frame.text = "발표자 메모: 질문을 받는다"
    deck.save(str(path))
    return path


def write_xlsx(path: Path, word: str = "quokka") -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sales = book.active
    sales.title = "매출"
    sales.append(["지역", "금액"])
    sales.append(["서울", 1200])
    stock = book.create_sheet("재고")
    stock.append(["품목", "수량", "비고"])
    stock.append([word, 3, True])
    book.save(path)
    return path


def write_xls(path: Path, word: str = "tapir") -> Path:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    budget = book.add_sheet("예산")
    for r, row in enumerate([["항목", "금액", "확정"], [word, 1200, True], ["소수", 0.5]]):
        for c, value in enumerate(row):
            budget.write(r, c, value)
    book.add_sheet("빈 시트")
    notes = book.add_sheet("메모")
    notes.write(3, 2, "떨어진 칸")
    book.save(str(path))
    return path


def write_ods(path: Path, word: str = "narwhal") -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for name, rows in (("일정", [["날짜", "행사"], ["3월", "입학식"]]), ("명단", [[word, "반장"]])):
        table = Table(name=name)
        for row in rows:
            tr = TableRow()
            for value in row:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=value))
                tr.addElement(cell)
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def write_odt(path: Path, word: str = "axolotl") -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableRow
    from odf.text import H, P, S, Span

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text="회의록"))
    para = P(text="오늘은")
    para.addElement(S(c=2))
    para.addElement(Span(text="예산을 논의했다"))
    doc.text.addElement(para)
    table = Table(name="표")
    row = TableRow()
    cell = TableCell()
    cell.addElement(P(text=f"표 안의 {word}"))
    row.addElement(cell)
    table.addElement(row)
    doc.text.addElement(table)
    doc.save(str(path))
    return path


def write_odp(path: Path, word: str = "pangolin") -> Path:
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation
    from odf.presentation import Notes
    from odf.style import MasterPage, PageLayout
    from odf.text import P

    doc = OpenDocumentPresentation()
    layout = PageLayout(name="layout")
    doc.automaticstyles.addElement(layout)
    master = MasterPage(name="master", pagelayoutname=layout)
    doc.masterstyles.addElement(master)
    for text, notes in (("첫 장: 여는 말", None), (f"둘째 장: {word}", "발표 메모")):
        page = Page(masterpagename=master)
        doc.presentation.addElement(page)
        frame = Frame(width="20cm", height="3cm", x="1cm", y="1cm")
        page.addElement(frame)
        box = TextBox()
        frame.addElement(box)
        box.addElement(P(text=text))
        if notes:
            note = Notes()
            page.addElement(note)
            note_frame = Frame(width="20cm", height="3cm", x="1cm", y="1cm")
            note.addElement(note_frame)
            note_box = TextBox()
            note_frame.addElement(note_box)
            note_box.addElement(P(text=notes))
    doc.save(str(path))
    return path


def write_epub(path: Path, word: str = "okapi") -> Path:
    """Chapters listed in the manifest in one order and read (the spine) in another."""
    chapter = (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>제목은 빼고</title><style>p{{}}</style></head><body><p>{}</p></body></html>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        zf.writestr(
            "OEBPS/book.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            "<manifest>"
            '<item id="b" href="text/b.xhtml" media-type="application/xhtml+xml"/>'
            '<item id="a" href="text/a.xhtml" media-type="application/xhtml+xml"/>'
            '</manifest><spine><itemref idref="a"/><itemref idref="b"/></spine></package>',
        )
        zf.writestr("OEBPS/text/a.xhtml", chapter.format("첫째 장: 옛날 옛적에"))
        zf.writestr("OEBPS/text/b.xhtml", chapter.format(f"둘째 장: {word}가 나타났다"))
    return path


def write_eml(path: Path, word: str = "capybara") -> Path:
    """A Korean mail as Korean mailers send it: EUC-KR body, encoded-word subject."""
    message = EmailMessage()
    message["Subject"] = "분기 보고서 제출 안내"
    message["From"] = "김철수 <cs.kim@example.kr>"
    message["To"] = "team@example.kr"
    message["Date"] = "Mon, 02 Mar 2026 09:30:00 +0900"
    message.set_content(f"안녕하세요. {word} 보고서를 금요일까지 보내 주세요.", charset="euc-kr")
    path.write_bytes(bytes(message))
    return path


def write_rtf(path: Path, word: str = "wombat") -> Path:
    """RTF as Windows word processors write Korean: CP949 bytes as \\'XX escapes."""
    escaped = "".join(f"\\'{b:02x}" for b in "한글 문서의 내용".encode("cp949"))
    path.write_bytes(
        (
            "{\\rtf1\\ansi\\ansicpg949\\deff0{\\fonttbl{\\f0\\fnil\\fcharset129 Gulim;}}"
            f"\\f0\\fs20 {escaped} {word}\\par}}"
        ).encode("ascii")
    )
    return path


def write_cfb(streams: dict[str, bytes]) -> bytes:
    """A compound file (OLE, version 3) holding `streams` by path ('storage/stream').

    Small streams go in the mini stream, as the format requires; each storage's
    children are a chain of right siblings, which readers follow like any tree.
    """
    free, end, fat_sector, none = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    root: dict = {"name": "Root Entry", "type": 5, "kids": {}, "data": b""}
    for path, data in streams.items():
        node = root
        *folders, leaf = path.split("/")
        for folder in folders:
            node = node["kids"].setdefault(folder, {"name": folder, "type": 1, "kids": {}})
        node["kids"][leaf] = {"name": leaf, "type": 2, "kids": {}, "data": data}
    entries: list[dict] = []

    def number(node: dict) -> None:
        node["id"] = len(entries)
        entries.append(node)
        for kid in node["kids"].values():
            number(kid)

    number(root)
    sectors: list[bytes] = []
    fat: list[int] = []

    def allocate(data: bytes) -> int:
        count = -(-len(data) // 512)
        if not count:
            return end
        start = len(sectors)
        for i in range(count):
            sectors.append(data[i * 512 : (i + 1) * 512].ljust(512, b"\0"))
            fat.append(start + i + 1 if i < count - 1 else end)
        return start

    mini, minifat = bytearray(), []
    for entry in entries:
        data = entry.get("data", b"") if entry["type"] == 2 else b""
        entry["size"] = len(data)
        if entry["type"] != 2 or not data:
            entry["start"] = end if entry["type"] == 2 else 0
        elif len(data) < 4096:
            count, start = -(-len(data) // 64), len(mini) // 64
            mini += data.ljust(count * 64, b"\0")
            minifat += [start + i + 1 for i in range(count - 1)] + [end]
            entry["start"] = start
        else:
            entry["start"] = allocate(data)
    root["start"], root["size"] = allocate(bytes(mini)) if mini else end, len(mini)
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat)
    minifat_start = allocate(minifat_bytes) if minifat else end
    directory = bytearray()
    for entry in entries:
        kids = list(entry["kids"].values())
        for left, right in zip(kids, kids[1:], strict=False):
            left["right"] = right["id"]
        name = entry["name"].encode("utf-16-le") + b"\0\0"
        directory += name.ljust(64, b"\0") + struct.pack(
            "<HBBIII16sIQQIQ",
            len(name),
            entry["type"],
            1,
            none,
            entry.get("right", none),
            kids[0]["id"] if kids else none,
            b"",
            0,
            0,
            0,
            entry["start"],
            entry["size"],
        )
    directory += (
        b"\0" * 64 + struct.pack("<HBBIII16sIQQIQ", 0, 0, 0, none, none, none, b"", 0, 0, 0, 0, 0)
    ) * (-len(entries) % 4)
    directory_start = allocate(bytes(directory))
    fat_count = 1
    while fat_count * 128 < len(sectors) + fat_count:
        fat_count += 1
    fat_start = len(sectors)
    fat += [fat_sector] * fat_count
    fat += [free] * (fat_count * 128 - len(fat))
    sectors += [struct.pack("<128I", *fat[i * 128 : (i + 1) * 128]) for i in range(fat_count)]
    difat = [fat_start + i for i in range(fat_count)] + [free] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"",
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"",
        0,
        fat_count,
        directory_start,
        0,
        4096,
        minifat_start,
        -(-len(minifat_bytes) // 512),
        end,
        0,
        *difat,
    )
    return header + b"".join(sectors)


def write_msg(
    path: Path,
    word: str = "meerkat",
    legacy: bool = False,
    attached: dict[str, bytes] | None = None,
) -> Path:
    """An Outlook message: Unicode properties, or 8-bit ones in code page 949; `attached`
    files as attachment storages (long file name, data)."""
    strings = {
        0x0037: "주간 회의 안건",
        0x0C1A: "이영희",
        0x5D01: "yh.lee@example.kr",
        0x0E04: "개발팀",
        0x1000: f"이번 주 안건은 {word} 프로젝트와 똠방각하 건입니다.",
    }
    kind = 0x001E if legacy else 0x001F
    props = bytearray(32)  # the top-level header: reserved, recipient and attachment counters
    streams = {}
    for pid, text in strings.items():
        data = text.encode("cp949") if legacy else text.encode("utf-16-le")
        streams[f"__substg1.0_{pid:04X}{kind:04X}"] = data
        props += struct.pack("<HHIII", kind, pid, 6, len(data), 0)
    sent = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc) - datetime(
        1601, 1, 1, tzinfo=timezone.utc
    )
    props += struct.pack("<HHIQ", 0x0040, 0x0039, 6, int(sent.total_seconds()) * 10_000_000)
    if legacy:
        props += struct.pack("<HHIII", 0x0003, 0x3FFD, 6, 949, 0)
    streams["__properties_version1.0"] = bytes(props)
    for n, (name, data) in enumerate((attached or {}).items()):
        storage = f"__attach_version1.0_#{n:08X}"
        streams[f"{storage}/__substg1.0_3707{kind:04X}"] = (
            name.encode("cp949") if legacy else name.encode("utf-16-le")
        )
        streams[f"{storage}/__substg1.0_37010102"] = data
    path.write_bytes(write_cfb(streams))
    return path


# one test per format


def test_real_hwp_sample_gives_its_text_tables_included() -> None:
    (passage,) = _extract(DATA / "sample_document.hwp")
    assert passage.text.startswith(ANTHEM)
    assert "괴로우나 즐거우나 나라 사랑하세" in passage.text
    assert "무궁화 삼천리" in passage.text and "길이 보전하세" in passage.text  # the table


def test_real_hwpx_sample_gives_the_same_text() -> None:
    (passage,) = _extract(DATA / "sample_document.hwpx")
    (hwp,) = _extract(DATA / "sample_document.hwp")
    assert passage.text.split() == hwp.text.split()


def test_hwpx_saved_under_the_hwp_name_is_read_as_hwpx() -> None:
    (passage,) = extract_text_bytes((DATA / "sample_document.hwpx").read_bytes(), ".hwp")
    assert passage.text.startswith(ANTHEM)


def test_hwp_and_hwpx_carry_a_preview_picture_of_their_first_page() -> None:
    from PIL import Image

    data = (DATA / "sample_document.hwpx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        from_hwpx = hwpx.preview_image(zf, Budget(len(data), 1 << 20, 200))
    for picture in (hwp.preview_image((DATA / "sample_document.hwp").read_bytes()), from_hwpx):
        assert picture is not None
        with Image.open(io.BytesIO(picture)) as image:
            assert image.width > 100 and image.height > 100


def test_password_protected_hwp_is_skipped_with_that_reason() -> None:
    with pytest.raises(ExtractionError, match="encrypted HWP"):
        _extract(DATA / "protected_document.hwp")


def test_distribution_protected_hwp_is_skipped_with_that_reason(tmp_path: Path) -> None:
    import olefile

    copy = tmp_path / "배포용.hwp"
    copy.write_bytes((DATA / "sample_document.hwp").read_bytes())
    with olefile.OleFileIO(str(copy), write_mode=True) as ole:
        header = bytearray(ole.openstream("FileHeader").read())
        header[36] |= 1 << 2  # the distribution bit of the properties
        ole.write_stream("FileHeader", bytes(header))
    with pytest.raises(ExtractionError, match="distribution-protected HWP"):
        _extract(copy)


def test_pptx_slides_tables_groups_and_notes(tmp_path: Path) -> None:
    first, second = _extract(write_pptx(tmp_path / "deck.pptx"))
    assert (first.page, second.page) == (1, 2)
    assert first.text.splitlines() == ["자동차 보험 안내", "보험료는 해마다 바뀝니다"]
    assert second.text.splitlines()[0] == "요금표"
    assert "zeppelin\t30만원" in second.text
    assert "묶음 안의 글상자" in second.text and "발표자 메모: 질문을 받는다" in second.text
    assert place_of("deck.pptx", second.page) == "slide 2"


def test_xlsx_sheets_are_passages_named_and_numbered(tmp_path: Path) -> None:
    sales, stock = _extract(write_xlsx(tmp_path / "book.xlsx"))
    assert sales.text.splitlines() == ["매출", "지역\t금액", "서울\t1200"]
    assert stock.text.splitlines() == ["재고", "품목\t수량\t비고", "quokka\t3\tTRUE"]
    assert (sales.page, stock.page) == (1, 2)
    assert place_of("book.xlsx", 2) == "sheet 2"


def test_xls_sheets(tmp_path: Path) -> None:
    budget, notes = _extract(write_xls(tmp_path / "old.xls"))
    assert budget.text.splitlines() == [
        "예산",
        "항목\t금액\t확정",
        "tapir\t1200\tTRUE",
        "소수\t0.5",
    ]
    assert (budget.page, notes.page) == (1, 3)  # the empty second sheet keeps its number
    assert notes.text.splitlines() == ["메모", "\t\t떨어진 칸"]
    assert place_of("old.xls", 3) == "sheet 3"


def test_xlsx_saved_under_the_xls_name_is_read_as_xlsx(tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "book.xlsx").read_bytes()
    assert [p.page for p in extract_text_bytes(data, ".xls")] == [1, 2]


def test_ods_sheets(tmp_path: Path) -> None:
    plan, names = _extract(write_ods(tmp_path / "sheet.ods"))
    assert plan.text.splitlines() == ["일정", "날짜\t행사", "3월\t입학식"]
    assert names.text.splitlines() == ["명단", "narwhal\t반장"]
    assert names.page == 2 and place_of("sheet.ods", 2) == "sheet 2"


def test_odt_paragraphs_spaces_and_tables(tmp_path: Path) -> None:
    (passage,) = _extract(write_odt(tmp_path / "minutes.odt"))
    assert passage.text.splitlines() == ["회의록", "오늘은  예산을 논의했다", "표 안의 axolotl"]


def test_odp_pages_with_notes(tmp_path: Path) -> None:
    first, second = _extract(write_odp(tmp_path / "talk.odp"))
    assert (first.page, first.text) == (1, "첫 장: 여는 말")
    assert (second.page, second.text.splitlines()) == (2, ["둘째 장: pangolin", "발표 메모"])
    assert place_of("talk.odp", 2) == "slide 2"


def test_epub_chapters_in_spine_order(tmp_path: Path) -> None:
    first, second = _extract(write_epub(tmp_path / "book.epub"))
    assert first.text == "첫째 장: 옛날 옛적에"
    assert second.text == "둘째 장: okapi가 나타났다"


def test_eml_headers_and_euc_kr_body(tmp_path: Path) -> None:
    path = write_eml(tmp_path / "mail.eml")
    assert b"euc-kr" in path.read_bytes()
    (passage,) = _extract(path)
    head, body = passage.text.split("\n\n", 1)
    assert head.splitlines() == [
        "Subject: 분기 보고서 제출 안내",
        "From: 김철수 <cs.kim@example.kr>",
        "To: team@example.kr",
        "Date: Mon, 02 Mar 2026 09:30:00 +0900",
    ]
    assert body.strip() == "안녕하세요. capybara 보고서를 금요일까지 보내 주세요."


def test_eml_ks_c_5601_label_and_raw_8bit_header_decode_as_cp949(tmp_path: Path) -> None:
    # 똠 is in CP949 but not in EUC-KR, yet Outlook labels such mail ks_c_5601-1987
    raw = (
        b"Subject: " + "똠방각하 회의".encode("cp949") + b"\r\n"
        b"From: a@example.kr\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="ks_c_5601-1987"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "똠방각하의 본문".encode("cp949") + b"\r\n"
    )
    (passage,) = extract_text_bytes(raw, ".eml")
    assert "Subject: 똠방각하 회의" in passage.text
    assert passage.text.rstrip().endswith("똠방각하의 본문")


def test_eml_html_only_body_gives_its_visible_text() -> None:
    raw = (
        b"Subject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + "<html><style>.x{}</style><body><p>보이는 본문</p></body></html>".encode()
    )
    (passage,) = extract_text_bytes(raw, ".eml")
    assert passage.text.endswith("보이는 본문") and ".x" not in passage.text


def test_msg_properties_unicode_and_code_page_949(tmp_path: Path) -> None:
    for legacy in (False, True):
        (passage,) = _extract(write_msg(tmp_path / "memo.msg", legacy=legacy))
        head, body = passage.text.split("\n\n", 1)
        assert head.splitlines() == [
            "Subject: 주간 회의 안건",
            "From: 이영희 <yh.lee@example.kr>",
            "To: 개발팀",
            "Date: Mon, 02 Mar 2026 00:30:00 +0000",
        ], legacy
        assert body == "이번 주 안건은 meerkat 프로젝트와 똠방각하 건입니다."


def test_msg_that_is_not_an_outlook_message(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="not an Outlook message"):
        extract_text_bytes(write_cfb({"Book": b"x" * 100}), ".msg")
    with pytest.raises(ExtractionError, match="not a readable .msg"):
        extract_text_bytes(write_cfb({"Book": b"x"})[:700], ".msg")


def test_rtf_cp949_escapes_decode(tmp_path: Path) -> None:
    (passage,) = _extract(write_rtf(tmp_path / "memo.rtf"))
    assert passage.text.strip() == "한글 문서의 내용 wombat"


def test_broken_files_of_each_new_format_are_refused(tmp_path: Path) -> None:
    for name in ("hwp", "hwpx", "pptx", "xlsx", "xls", "ods", "odt", "odp", "epub", "msg", "rtf"):
        with pytest.raises(ExtractionError, match=r"not a|no text|unsupported"):
            extract_text_bytes(b"PK\x03\x04 not what it says", FORMATS[name][0])


WRITERS = {
    "deck.pptx": (write_pptx, "zeppelin", 2),
    "book.xlsx": (write_xlsx, "quokka", 2),
    "old.xls": (write_xls, "tapir", 1),
    "sheet.ods": (write_ods, "narwhal", 2),
    "minutes.odt": (write_odt, "axolotl", None),
    "talk.odp": (write_odp, "pangolin", 2),
    "book.epub": (write_epub, "okapi", None),
    "mail.eml": (write_eml, "capybara", None),
    "memo.msg": (write_msg, "meerkat", None),
    "memo.rtf": (write_rtf, "wombat", None),
}


def test_a_folder_of_office_files_is_indexed_and_searched(
    tmp_path: Path, fake_settings, encoders
) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    for name, (write, word, _) in WRITERS.items():
        write(folder / name, word)
    for sample in ("sample_document.hwp", "sample_document.hwpx", "protected_document.hwp"):
        (folder / sample).write_bytes((DATA / sample).read_bytes())
    report = run_index(folder, fake_settings, encoders)
    assert {Path(p).name: r for p, r in report.skipped} == {
        "protected_document.hwp": "encrypted HWP (password protected)"
    }
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        for name, (_, word, page) in WRITERS.items():
            hits = list(index.search(word, k=3, mode="lexical"))
            assert [(Path(h.path).name, h.page) for h in hits] == [(name, page)], word
            assert hits[0].place == place_of(name, page)  # 'slide 2', 'sheet 1', or None
        for kind in ("hwp", "hwpx"):
            hits = index.search("무궁화 삼천리", k=5, filters=make_filters(formats=[kind]))
            assert [Path(h.path).name for h in hits] == [f"sample_document.{kind}"]
