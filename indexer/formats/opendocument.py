"""OpenDocument text and presentations (.odt, .odp): a zip whose `content.xml` holds the text.

Paragraphs (`text:p`) and headings (`text:h`) are read in document order;
tables, lists and frames hold paragraphs of their own, so their text comes in
place. A presentation gives one passage per page (slide), its speaker notes
included. Spreadsheets (.ods) stream row by row in `sheets`.
"""

from __future__ import annotations

import zipfile
from typing import Any

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .text import tidy
from .unpack import Budget, local, parse_xml

TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_PARAGRAPHS = ("p", "h")


def read_odt(zf: zipfile.ZipFile, budget: Budget) -> list[Passage]:
    """The text of an OpenDocument text document, as one passage."""
    body = _body(zf, budget, "text")
    return [Passage(_paragraphs(body))]


def read_odp(zf: zipfile.ZipFile, budget: Budget) -> list[Passage]:
    """One passage per slide of an OpenDocument presentation, its notes included."""
    body = _body(zf, budget, "presentation")
    pages = [e for e in body if local(e.tag) == "page"]
    return [Passage(_paragraphs(page), page=n) for n, page in enumerate(pages, start=1)]


def _body(zf: zipfile.ZipFile, budget: Budget, kind: str) -> Any:
    try:
        data = budget.zip_member(zf, "content.xml")
    except KeyError:
        raise ExtractionError("not a valid OpenDocument file (no content.xml)") from None
    root = parse_xml(data, "OpenDocument file")
    body = next((e for e in root.iter("{*}" + kind) if local(e.getparent().tag) == "body"), None)
    if body is None:
        raise ExtractionError(f"not an OpenDocument {kind} (its body holds something else)")
    return body


def _paragraphs(element: Any) -> str:
    lines = [
        paragraph_text(p) for p in element.iter() if local(p.tag) in _PARAGRAPHS and _is_text(p)
    ]
    return tidy("\n".join(lines))


def _is_text(element: Any) -> bool:
    return str(element.tag).startswith("{" + TEXT_NS + "}")


def paragraph_text(p: Any) -> str:
    """A paragraph's own text: spaces and tabs restored; paragraphs nested in it (a note's)
    are left to be read on their own."""
    parts = [p.text or ""]
    for child in p:
        name = local(child.tag)
        if name in _PARAGRAPHS and _is_text(child):
            pass
        elif name == "s":
            parts.append(" " * min(repeats(child.get(f"{{{TEXT_NS}}}c")), 100))
        elif name == "tab":
            parts.append("\t")
        elif name == "line-break":
            parts.append("\n")
        elif name not in ("note-citation", "annotation"):
            parts.append(paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def repeats(value: str | None) -> int:
    """A count attribute (`text:c`, `table:number-rows-repeated`, ...): 1 when absent or odd."""
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1
