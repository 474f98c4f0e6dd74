"""PowerPoint presentations (.pptx): one passage per slide, its page the slide number.

A slide reads as its title, then its shapes' text in their order (groups
opened, tables row by row with tab-separated cells), then its speaker notes.
python-pptx parses the package, whose zip directory was checked first.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from searchengine.errors import ExtractionError
from searchengine.records import Passage


def read_pptx(data: bytes) -> list[Passage]:
    """One passage per slide: title, text, tables and notes."""
    from lxml.etree import XMLSyntaxError
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        deck = Presentation(io.BytesIO(data))
        return [
            Passage(_slide_text(slide), page=number)
            for number, slide in enumerate(deck.slides, start=1)
        ]
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, XMLSyntaxError) as exc:
        raise ExtractionError(f"not a readable .pptx file ({exc})") from None


def _slide_text(slide: Any) -> str:
    title = slide.shapes.title
    lines = [title.text_frame.text] if title is not None and title.has_text_frame else []
    for shape in _shapes(slide.shapes):
        if title is not None and shape.shape_id == title.shape_id:
            continue
        lines.extend(_shape_text(shape))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            lines.append(notes.text)
    return "\n".join(line for line in lines if line.strip())


def _shapes(shapes: Any) -> Iterator[Any]:
    """Shapes in order, the members of groups in place of the group."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _shape_text(shape: Any) -> list[str]:
    if getattr(shape, "has_table", False) and shape.has_table:
        return [
            "\t".join(cell.text_frame.text.strip() for cell in row.cells)
            for row in shape.table.rows
        ]
    if shape.has_text_frame:
        return [shape.text_frame.text]
    return []
