"""HWPX, the XML form of Hangul (한글) documents: a zip of section XML parts (OWPML).

Paragraphs are `hp:p` elements whose `hp:t` runs hold the text; a table sits
inside a run, its cells holding paragraphs of their own, so walking the runs in
document order gives the table text in reading order. Sections are read in the
order of the package's spine (`Contents/content.hpf`), else by number. A
password-protected document says so in its manifest and is skipped.
"""

from __future__ import annotations

import re
import zipfile
from typing import Any

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .opf import spine
from .unpack import Budget, local, parse_xml

_SECTION = re.compile(r"Contents/section(\d+)\.xml")
_PACKAGE = "Contents/content.hpf"
_MANIFEST = "META-INF/manifest.xml"
_PREVIEW = "Preview/PrvImage."
_INLINE = {"tab": "\t", "lineBreak": "\n", "hyphen": "-", "nbSpace": "\u00a0", "fwSpace": " "}


def read_hwpx(zf: zipfile.ZipFile, budget: Budget) -> list[Passage]:
    """One passage of text per section of an HWPX document."""
    names = set(zf.namelist())
    if _MANIFEST in names:
        manifest = parse_xml(budget.zip_member(zf, _MANIFEST), "HWPX manifest")
        if any(local(e.tag) == "encryption-data" for e in manifest.iter()):
            raise ExtractionError("encrypted HWPX (password protected)")
    sections = sorted(
        (n for n in names if _SECTION.fullmatch(n)),
        key=lambda n: int(_SECTION.fullmatch(n).group(1)),  # type: ignore[union-attr]
    )
    if _PACKAGE in names:
        package = parse_xml(budget.zip_member(zf, _PACKAGE), "HWPX package")
        ordered = [n for n in spine(package, _PACKAGE) if n in names and _SECTION.fullmatch(n)]
        sections = ordered or sections
    if not sections:
        raise ExtractionError("not a valid HWPX file (it has no sections)")
    return [
        Passage(section_text(parse_xml(budget.zip_member(zf, name), "HWPX section")))
        for name in sections
    ]


def preview_image(zf: zipfile.ZipFile, budget: Budget) -> bytes | None:
    """The preview picture of the first page that an HWPX package carries, if any."""
    name = next((n for n in zf.namelist() if n.startswith(_PREVIEW)), None)
    return budget.zip_member(zf, name) if name else None


def section_text(root: Any) -> str:
    """A section's paragraphs, one a line; a table's cells come as their own lines."""
    lines: list[str] = []
    current: Any = None
    for t in root.iter("{*}t"):
        paragraph = next((a for a in t.iterancestors() if local(a.tag) == "p"), None)
        if paragraph is None:
            continue
        if paragraph is not current or not lines:
            lines.append("")
            current = paragraph
        lines[-1] += _run_text(t)
    return "\n".join(line for line in lines if line.strip())


def _run_text(t: Any) -> str:
    parts = [t.text or ""]
    for child in t:
        name = local(child.tag)
        parts.append(_INLINE.get(name, "") if name in _INLINE else "".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts)
