"""Rich Text Format (.rtf): control words stripped, `\\'XX` escapes decoded by the code page.

striprtf honours `\\ansicpg949` and the font table's `\\fcharset129`, so Korean
written by Windows word processors (CP949 escapes) decodes correctly.
"""

from __future__ import annotations

from searchengine.errors import ExtractionError
from searchengine.records import Passage


def read_rtf(data: bytes) -> list[Passage]:
    """The text of an RTF document, as one passage."""
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip().startswith(b"{\\rtf"):
        raise ExtractionError("not an RTF file (no {\\rtf header)")
    # RTF is 7-bit text; bytes above that are kept as they are for the code page to decode
    text = rtf_to_text(data.decode("latin-1"), errors="replace")
    return [Passage(text)]
