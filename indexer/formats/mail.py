"""Mail messages (.eml): subject, sender, recipients, date and body, in whatever charset;
and the files attached, which the extractor reads as parts of the mail (`indexer.extract`).

The standard library's parser (policy.default) decodes MIME and RFC 2047
headers. Korean mail is often labelled EUC-KR or ks_c_5601-1987 while holding
CP949's extra syllables, so those labels decode as CP949; a body with no
charset, or a wrong one, goes through charset detection; raw 8-bit headers are
decoded the same way. The MIME tree is counted before it is parsed (delimiter
lines of the declared boundaries, nested messages), so a mail of thousands of
parts, or nested thousands deep, is refused rather than parsed.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .text import decode_text, html_text

MAX_PARTS = 1_000  # MIME parts in one mail
MAX_NESTING = 100  # multiparts and attached messages, in all (the parser recurses into each)
MAX_ATTACHMENTS = 100  # files attached to one mail that are read

_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.I)
_NESTED = re.compile(rb"message/rfc822", re.I)
_KOREAN = {"euc_kr": "cp949"}  # EUC-KR's superset, which Korean mailers write under its name
_HEADERS = (("subject", "Subject"), ("from", "From"), ("to", "To"), ("date", "Date"))


@dataclass(frozen=True)
class Attachment:
    """A file attached to a mail: its name as the mail gives it, and its bytes."""

    name: str
    data: bytes


def read_eml(data: bytes) -> tuple[list[Passage], list[Attachment]]:
    """One passage (the headers a reader looks at, then the body text) and the files
    attached, at most MAX_ATTACHMENTS."""
    _check_tree(data)
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    head = {label: _header(message, key) for key, label in _HEADERS}
    return [mail_passage(head, _body(message))], _attachments(message)


def _attachments(message: EmailMessage) -> list[Attachment]:
    out = []
    for part in message.iter_attachments():
        name = part.get_filename() or ""
        if part.get_content_type() == "message/rfc822":
            nested = part.get_payload()
            inner = nested[0] if isinstance(nested, list) and nested else nested
            if isinstance(inner, Message):  # a mail forwarded as an attachment
                out.append(Attachment(name or "attached.eml", inner.as_bytes()))
        else:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and name:
                out.append(Attachment(name, payload))
        if len(out) == MAX_ATTACHMENTS:
            break
    return out


def mail_passage(head: dict[str, str], body: str) -> Passage:
    """A message as one passage: its non-empty headers ('Subject: ...'), a blank line, the body."""
    lines = [f"{label}: {value}" for label, value in head.items() if value]
    if not lines and not body.strip():
        raise ExtractionError("not a mail message (no headers or body text)")
    return Passage("\n".join(lines) + "\n\n" + body)


def decode_body(payload: bytes, charset: str | None) -> str:
    """Text in its declared charset (EUC-KR labels read as CP949), else in the one detected."""
    if charset:
        try:
            name = codecs.lookup(charset).name
            return payload.decode(_KOREAN.get(name, name))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown label: detect it instead
    try:
        return decode_text(payload)
    except ExtractionError:
        return payload.decode("utf-8", "replace")


def _check_tree(data: bytes) -> None:
    boundaries = {b"--" + (m.group(1) or m.group(2)) for m in _BOUNDARY.finditer(data)}
    nesting = len(_BOUNDARY.findall(data)) + len(_NESTED.findall(data))
    if nesting > MAX_NESTING:
        raise ExtractionError(
            f"a mail of more than {MAX_NESTING} MIME containers (multiparts and attached "
            f"messages; the part limit)"
        )
    parts = 0
    for line in data.splitlines():
        if line.startswith(b"--") and line.rstrip().removesuffix(b"--") in boundaries:
            parts += 1
            if parts > MAX_PARTS:
                raise ExtractionError(
                    f"a mail of more than {MAX_PARTS:,} MIME parts (the part limit)"
                )


def _header(message: EmailMessage, key: str) -> str:
    raw = next((v for k, v in message.raw_items() if k.lower() == key), None)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # raw 8-bit bytes, which the parser kept as surrogate escapes: decode them for real
        text = decode_body(raw.encode("ascii", "surrogateescape"), None)
    else:
        try:
            text = str(message.get(key, ""))
        except (ValueError, IndexError, TypeError, AttributeError):  # a header it chokes on
            text = raw
    return " ".join(text.split())


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _part_text(part)
    return html_text(text) if part.get_content_subtype() == "html" else text


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload.strip():
        return ""
    return decode_body(payload, part.get_content_charset())
