"""Text out of text-like bytes: legacy encodings decoded, HTML reduced to what a reader sees.

Shared by the plain formats and by those that carry text or HTML inside them
(mail bodies, e-book chapters).
"""

from __future__ import annotations

import re

from searchengine.errors import ExtractionError

_BLANK_RUNS = re.compile(r"\n\s*\n\s*\n+")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg"})
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


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
    """The visible text of an HTML or XHTML document (no scripts, styles or head): its
    text pieces in order, one per line.

    lxml's own tree, walked once: BeautifulSoup's tree over the same parser held more
    memory and took six times as long (one 8.4 MB page, `nodejs/api/all.html`: 339 MB
    and 8.0 s of a process against 234 MB and 1.4 s), for the same words on every HTML
    page of /usr/share/doc and sample_corpus (246). The encoding is found as
    BeautifulSoup found it (its UnicodeDammit: a declared charset, else a guess)."""
    from bs4.dammit import UnicodeDammit
    from lxml import etree
    from lxml import html as lxml_html

    if isinstance(data, bytes):
        data = UnicodeDammit(data, is_html=True).unicode_markup or data.decode("utf-8", "replace")
    # lxml takes no str that declares its encoding, nor control characters
    data = _CONTROLS.sub("", _XML_DECLARATION.sub("", data, count=1))
    try:
        root = lxml_html.document_fromstring(data)
    except (etree.ParserError, ValueError):  # nothing but space, or not a document
        return ""
    pieces: list[str] = []
    hidden = 0  # depth inside an element whose text is not shown
    for event, el in etree.iterwalk(root, events=("start", "end", "comment", "pi")):
        if event in ("comment", "pi"):  # not shown, but what follows one is
            if not hidden and el.tail:
                pieces.append(el.tail)
            continue
        if event == "start":
            if hidden or _local_name(el.tag) in _HIDDEN:
                hidden += 1
            elif el.text:
                pieces.append(el.text)
            continue
        if hidden:
            hidden -= 1
            if hidden:
                continue
        if el.tail:
            pieces.append(el.tail)
    text = "\n".join(pieces)
    return tidy("\n".join(line.strip() for line in text.splitlines()))


def _local_name(tag: object) -> str:
    """An element's name without its namespace (XHTML), lower case."""
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def tidy(text: str) -> str:
    """Runs of blank lines made one."""
    return _BLANK_RUNS.sub("\n\n", text).strip()
