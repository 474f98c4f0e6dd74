"""Text out of text-like bytes: legacy encodings decoded, HTML reduced to what a reader sees.

Shared by the plain formats and by those that carry text or HTML inside them
(mail bodies, e-book chapters).
"""

from __future__ import annotations

import re

from searchengine.errors import ExtractionError

_BLANK_RUNS = re.compile(r"\n\s*\n\s*\n+")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def decode_text(data: bytes) -> str:
    """Decode text in UTF-8 or whatever legacy encoding it is in (CP949, EUC-KR, ...)."""
    if not data.strip():
        raise ExtractionError("empty file")
    if not data.startswith(_BOMS) and b"\x00" in data[:8192]:
        raise ExtractionError("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ExtractionError("binary content or an unknown text encoding")
    text = str(best)
    if _looks_binary(text):
        raise ExtractionError("binary content, not text")
    return text


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls > len(sample) * 0.02


def html_text(data: bytes | str) -> str:
    """The visible text of an HTML or XHTML document (no scripts, styles or head)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    text = soup.get_text(separator="\n")
    return tidy("\n".join(line.strip() for line in text.splitlines()))


def tidy(text: str) -> str:
    """Runs of blank lines made one."""
    return _BLANK_RUNS.sub("\n\n", text).strip()
