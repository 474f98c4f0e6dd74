"""Spreadsheets (.xlsx, .ods, .xls): each sheet a passage of its name and its rows.

A sheet part is parsed row by row (lxml iterparse), each row cleared once read,
so memory holds one row, whatever the sheet claims: a dimension of a billion
cells, or an OpenDocument row "repeated" a billion times, costs nothing until
cells with text arrive, and those are counted against `MAX_CELLS` (repeats in
full, though a repeated cell or row is written out at most `MAX_REPEAT` times). Cells are
read as stored: shared and inline strings, numbers, booleans (dates come as
their serial numbers). A row is its cells joined by tabs; a passage's page is
the sheet's position in the workbook, so a hit can say which sheet it is in.

Legacy .xls workbooks (BIFF inside an OLE file) are read by xlrd one sheet at
a time, their rows kept ragged (no padding of empty cells) and counted
against the same cap; an encrypted workbook is skipped with that reason.
"""

from __future__ import annotations

import io
import posixpath
import struct
import zipfile
from typing import Any

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .opendocument import paragraph_text, repeats
from .opf import member_name
from .unpack import Budget, iter_xml, local, parse_xml

MAX_CELLS = 2_000_000  # filled cells in one workbook; past this it is skipped
MAX_REPEAT = 100  # an OpenDocument cell or row repeated more is written out this often

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_WORKBOOK = "xl/workbook.xml"


class _Cells:
    """The filled cells read so far, and their text, against the caps.

    Cells may share one string (shared strings, repeats), so the text a
    workbook yields can be far larger than the file: it is counted too, against
    the unpacking limit.
    """

    def __init__(self, cap: int, max_chars: int):
        self.cap = cap
        self.max_chars = max_chars
        self.count = 0
        self.chars = 0

    def add(self, n: int, chars: int) -> None:
        self.count += n
        self.chars += chars
        if self.count > self.cap:
            raise ExtractionError(
                f"a workbook of more than {self.cap:,} filled cells (the cell limit; "
                f"too large to index as text)"
            )
        if self.chars > self.max_chars:
            raise ExtractionError(
                f"a workbook of more than {self.max_chars:,} characters of cell text "
                f"(its cells repeat more text than the unpacking limit allows)"
            )


def read_xlsx(zf: zipfile.ZipFile, budget: Budget) -> list[Passage]:
    """One passage per worksheet of an Office Open XML workbook."""
    names = set(zf.namelist())
    if _WORKBOOK not in names:
        raise ExtractionError("not a valid .xlsx file (no workbook part)")
    workbook = parse_xml(budget.zip_member(zf, _WORKBOOK), "workbook")
    targets = _relationships(zf, budget, "xl/_rels/workbook.xml.rels")
    strings = _shared_strings(zf, budget) if "xl/sharedStrings.xml" in names else []
    cells = _Cells(MAX_CELLS, budget.max_bytes)
    passages = []
    for number, sheet in enumerate(workbook.iter(f"{{{_MAIN}}}sheet"), start=1):
        part = targets.get(sheet.get(f"{{{_REL}}}id", ""), "")
        if part not in names or not part.startswith("xl/worksheets/"):
            continue  # a chart sheet, or a sheet that is not there
        rows = _xlsx_rows(zf, part, budget, strings, cells)
        passages.extend(_sheet(sheet.get("name", f"Sheet{number}"), rows, number))
    return passages


def read_ods(zf: zipfile.ZipFile, budget: Budget) -> list[Passage]:
    """One passage per sheet of an OpenDocument spreadsheet."""
    if "content.xml" not in zf.namelist():
        raise ExtractionError("not a valid OpenDocument file (no content.xml)")
    cells = _Cells(MAX_CELLS, budget.max_bytes)
    sheets: dict[Any, tuple[str, list[str]]] = {}
    with zf.open("content.xml") as raw:
        stream = budget.metered(raw)
        for row in iter_xml(stream, "OpenDocument spreadsheet", (f"{{{_TABLE}}}table-row",)):
            table = next((a for a in row.iterancestors(f"{{{_TABLE}}}table")), None)
            if table is not None:
                name = table.get(f"{{{_TABLE}}}name", "")
                _, lines = sheets.setdefault(table, (name, []))
                text, filled = _ods_row(row, cells)
                if text:
                    times = repeats(row.get(f"{{{_TABLE}}}number-rows-repeated"))
                    cells.add((times - 1) * filled, (min(times, MAX_REPEAT) - 1) * len(text))
                    lines.extend([text] * min(times, MAX_REPEAT))
            _forget(row)
    return [p for n, (name, lines) in enumerate(sheets.values(), 1) for p in _sheet(name, lines, n)]


def read_xls(data: bytes, budget: Budget) -> list[Passage]:
    """One passage per worksheet of a legacy Excel (97-2003) workbook."""
    import xlrd
    from xlrd.compdoc import CompDocError

    cells = _Cells(MAX_CELLS, budget.max_bytes)
    try:
        book = xlrd.open_workbook(
            file_contents=data, on_demand=True, ragged_rows=True, logfile=io.StringIO()
        )
    except xlrd.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise ExtractionError("encrypted .xls workbook (password protected)") from None
        raise ExtractionError(f"not a readable .xls file ({exc})") from None
    except (CompDocError, struct.error, IndexError, ValueError, AssertionError) as exc:
        raise ExtractionError(f"not a readable .xls file ({exc})") from None
    passages = []
    try:
        for number in range(book.nsheets):
            sheet = book.sheet_by_index(number)
            lines = []
            for r in range(sheet.nrows):
                values = [_xls_value(cell) for cell in sheet.row(r)]
                filled = [v for v in values if v]
                if filled:
                    cells.add(len(filled), sum(map(len, filled)))
                    lines.append("\t".join(values).rstrip("\t"))
            passages.extend(_sheet(sheet.name, lines, number + 1))
            book.unload_sheet(number)
    except (xlrd.XLRDError, CompDocError, struct.error, IndexError, ValueError) as exc:
        raise ExtractionError(f"not a readable .xls file ({exc})") from None
    finally:
        book.release_resources()
    return passages


def _xls_value(cell: Any) -> str:
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
        value = float(cell.value)
        return str(int(value)) if value.is_integer() else repr(value)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if cell.value else "FALSE"
    if cell.ctype == xlrd.XL_CELL_TEXT:
        return str(cell.value).strip()
    return ""  # empty, blank, or an error code


def _sheet(name: str, rows: list[str], number: int) -> list[Passage]:
    """A sheet's passage, numbered by its place among all sheets; none for an empty sheet."""
    return [Passage("\n".join([name, *rows]), page=number)] if rows else []


def _relationships(zf: zipfile.ZipFile, budget: Budget, part: str) -> dict[str, str]:
    """Relationship ids of a part, to the zip members they name."""
    try:
        root = parse_xml(budget.zip_member(zf, part), "workbook relationships")
    except KeyError:
        raise ExtractionError("not a valid .xlsx file (no workbook relationships)") from None
    base = posixpath.dirname(posixpath.dirname(part))
    out = {}
    for rel in root.iter("{*}Relationship"):
        target = rel.get("Target", "")
        out[rel.get("Id", "")] = member_name("" if target.startswith("/") else base, target)
    return out


def _shared_strings(zf: zipfile.ZipFile, budget: Budget) -> list[str]:
    out = []
    with zf.open("xl/sharedStrings.xml") as raw:
        for si in iter_xml(budget.metered(raw), "shared strings", (f"{{{_MAIN}}}si",)):
            out.append(_string_item(si))
            _forget(si)
    return out


def _string_item(si: Any) -> str:
    """A rich or plain string, without its phonetic (furigana) runs."""
    return "".join(
        t.text or "" for t in si.iter(f"{{{_MAIN}}}t") if local(t.getparent().tag) != "rPh"
    )


def _xlsx_rows(
    zf: zipfile.ZipFile, part: str, budget: Budget, strings: list[str], cells: _Cells
) -> list[str]:
    lines = []
    with zf.open(part) as raw:
        for row in iter_xml(budget.metered(raw), "worksheet", (f"{{{_MAIN}}}row",)):
            values = [_xlsx_value(c, strings) for c in row.iter(f"{{{_MAIN}}}c")]
            filled = [v for v in values if v]
            if filled:
                cells.add(len(filled), sum(map(len, filled)))
                lines.append("\t".join(values).rstrip("\t"))
            _forget(row)
    return lines


def _xlsx_value(cell: Any, strings: list[str]) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{{{_MAIN}}}t")).strip()
    v = cell.find(f"{{{_MAIN}}}v")
    value = (v.text or "").strip() if v is not None else ""
    if kind == "s" and value:
        try:
            return strings[int(value)].strip()
        except (ValueError, IndexError):
            return ""
    if kind == "b":
        return {"1": "TRUE", "0": "FALSE"}.get(value, value)
    return value


def _ods_row(row: Any, cells: _Cells) -> tuple[str, int]:
    """A row's text and how many filled cells it declares (repeats counted in full)."""
    values: list[str] = []
    filled = 0
    for cell in row:
        if local(cell.tag) not in ("table-cell", "covered-table-cell"):
            continue
        text = "\n".join(paragraph_text(p) for p in cell.iter("{*}p")).strip()
        times = repeats(cell.get(f"{{{_TABLE}}}number-columns-repeated"))
        if text:
            filled += times
            cells.add(times, min(times, MAX_REPEAT) * len(text))
        # trailing empty columns are repeated by the thousand: one stands for them all
        values.extend([text] * min(times, MAX_REPEAT if text else 1))
    return "\t".join(values).rstrip("\t"), filled


def _forget(element: Any) -> None:
    """Free an element already read, and the siblings read before it."""
    element.clear()
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]
