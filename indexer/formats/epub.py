"""E-books (.epub): a zip of XHTML chapters, read in the order of the package's spine.

`META-INF/container.xml` names the package document; its spine gives the
reading order; each chapter's visible text is one passage. A book whose
chapters are encrypted (DRM) is skipped with that reason; encrypted fonts
(font obfuscation) are no obstacle.
"""

from __future__ import annotations

import zipfile

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .opf import member_name, spine
from .text import html_text
from .unpack import Budget, parse_xml

_CONTAINER = "META-INF/container.xml"
_ENCRYPTION = "META-INF/encryption.xml"


def read_epub(zf: zipfile.ZipFile, budget: Budget) -> list[Passage]:
    """One passage per chapter, in reading order."""
    names = set(zf.namelist())
    if _CONTAINER not in names:
        raise ExtractionError("not a valid .epub file (no META-INF/container.xml)")
    container = parse_xml(budget.zip_member(zf, _CONTAINER), "EPUB container")
    rootfile = next(container.iter("{*}rootfile"), None)
    package_path = rootfile.get("full-path", "") if rootfile is not None else ""
    if package_path not in names:
        raise ExtractionError("not a valid .epub file (its package document is missing)")
    chapters = [
        name
        for name in spine(
            parse_xml(budget.zip_member(zf, package_path), "EPUB package"), package_path
        )
        if name in names
    ]
    if _ENCRYPTION in names and _encrypted(zf, budget) & set(chapters):
        raise ExtractionError("DRM-protected EPUB (its chapters are encrypted)")
    return [Passage(html_text(budget.zip_member(zf, name))) for name in chapters]


def _encrypted(zf: zipfile.ZipFile, budget: Budget) -> set[str]:
    """The members that encryption.xml says are encrypted."""
    root = parse_xml(budget.zip_member(zf, _ENCRYPTION), "EPUB encryption list")
    return {member_name("", ref.get("URI", "")) for ref in root.iter("{*}CipherReference")}
