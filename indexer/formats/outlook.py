"""Outlook messages (.msg): an OLE compound file of MAPI properties, read like a mail.

The message's properties are 16-byte entries of the root `__properties_version1.0`
stream (fixed-size values such as the submit time inline); strings and binaries
live in `__substg1.0_PPPPTTTT` streams named by property id and type. Unicode
strings are UTF-16; 8-bit strings and HTML bodies are in the message's code
page, with 949 (Korean) read as CP949 like EUC-KR mail. The passage has the same
shape as an .eml's. Attached files (each an `__attach_version1.0_#N` storage: its
long or short file name, its data) are handed back like an .eml's.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from email.utils import format_datetime
from typing import Any

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .mail import MAX_ATTACHMENTS, Attachment, decode_body, mail_passage
from .text import html_text

_PROPERTIES = "__properties_version1.0"
_HEADER_BYTES = 32  # the top-level message's properties stream starts with this header
_ENTRY = struct.Struct("<HHI8s")  # type, id, flags, value

# property types
_LONG, _SYSTIME, _STRING8, _UNICODE, _BINARY = 0x0003, 0x0040, 0x001E, 0x001F, 0x0102
# property ids
_SUBJECT, _SUBMIT_TIME, _DELIVERY_TIME, _HEADERS = 0x0037, 0x0039, 0x0E06, 0x007D
_SENDER_NAME, _SENDER_EMAIL, _SENDER_SMTP, _DISPLAY_TO = 0x0C1A, 0x0C1F, 0x5D01, 0x0E04
_BODY, _HTML = 0x1000, 0x1013
_MESSAGE_CODEPAGE, _INTERNET_CODEPAGE = 0x3FFD, 0x3FDE
_ATTACH_DATA, _ATTACH_LONG_NAME, _ATTACH_NAME = 0x3701, 0x3707, 0x3704
_ATTACH_PREFIX = "__attach_version1.0_#"

_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)


def read_msg(data: bytes) -> tuple[list[Passage], list[Attachment]]:
    """One passage (subject, sender, recipients, date, then the body text) and the files
    attached, at most MAX_ATTACHMENTS."""
    import olefile

    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            message = _Message(ole, len(data))
            return [message.passage()], message.attachments()
    except (OSError, ValueError, IndexError, struct.error) as exc:
        raise ExtractionError(f"not a readable .msg file (a damaged file: {exc})") from None


class _Message:
    def __init__(self, ole: Any, file_size: int):
        self.ole = ole
        self.file_size = file_size
        props = self._stream(_PROPERTIES)
        if props is None:
            raise ExtractionError("not an Outlook message (no property stream)")
        entries = (
            _ENTRY.unpack_from(props, at) for at in range(_HEADER_BYTES, len(props) - 15, 16)
        )
        self.fixed = {pid: (ptype, value) for ptype, pid, _, value in entries}
        codepage = self._long(_MESSAGE_CODEPAGE)
        self.charset = f"cp{codepage}" if codepage else None
        internet = self._long(_INTERNET_CODEPAGE)
        self.body_charset = f"cp{internet}" if internet else self.charset

    def passage(self) -> Passage:
        headers = self._string(_HEADERS)
        sender_name, sender = self._string(_SENDER_NAME), self._sender_address()
        if sender_name and sender and sender_name != sender:
            sender = f"{sender_name} <{sender}>"
        head = {
            "Subject": self._string(_SUBJECT),
            "From": _from_header(headers) or sender or sender_name,
            "To": self._string(_DISPLAY_TO),
            "Date": self._date(),
        }
        return mail_passage(head, self._body())

    def _sender_address(self) -> str:
        return self._string(_SENDER_SMTP) or self._string(_SENDER_EMAIL)

    def _body(self) -> str:
        body = self._string(_BODY)
        if body.strip():
            return body
        html = self._stream(f"__substg1.0_{_HTML:04X}{_BINARY:04X}")
        if html:
            return html_text(decode_body(html, self.body_charset))
        return html_text(self._string(_HTML))

    def _date(self) -> str:
        for pid in (_SUBMIT_TIME, _DELIVERY_TIME):
            ptype, value = self.fixed.get(pid, (0, b""))
            if ptype == _SYSTIME:
                (ticks,) = struct.unpack("<Q", value)
                try:
                    return format_datetime(_FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10))
                except OverflowError:
                    return ""
        return ""

    def attachments(self) -> list[Attachment]:
        storages = sorted(
            {e[0] for e in self.ole.listdir(streams=True) if e[0].startswith(_ATTACH_PREFIX)}
        )
        out = []
        for storage in storages[:MAX_ATTACHMENTS]:
            data = self._stream(f"{storage}/__substg1.0_{_ATTACH_DATA:04X}{_BINARY:04X}")
            name = self._attached_name(storage)
            if data and name:
                out.append(Attachment(name, data))
        return out

    def _attached_name(self, storage: str) -> str:
        for pid in (_ATTACH_LONG_NAME, _ATTACH_NAME):
            unicode = self._stream(f"{storage}/__substg1.0_{pid:04X}{_UNICODE:04X}")
            if unicode:
                return unicode.decode("utf-16-le", "replace").rstrip("\0")
            legacy = self._stream(f"{storage}/__substg1.0_{pid:04X}{_STRING8:04X}")
            if legacy:
                return decode_body(legacy, self.charset).rstrip("\0")
        return ""

    def _long(self, pid: int) -> int:
        ptype, value = self.fixed.get(pid, (0, bytes(8)))
        return struct.unpack_from("<I", value)[0] if ptype == _LONG else 0

    def _string(self, pid: int) -> str:
        unicode = self._stream(f"__substg1.0_{pid:04X}{_UNICODE:04X}")
        if unicode is not None:
            return unicode.decode("utf-16-le", "replace").rstrip("\0")
        legacy = self._stream(f"__substg1.0_{pid:04X}{_STRING8:04X}")
        charset = self.body_charset if pid == _BODY else self.charset
        return decode_body(legacy, charset).rstrip("\0") if legacy else ""

    def _stream(self, name: str) -> bytes | None:
        """A stream ('name', or 'storage/name'); olefile reads a stream whole, so its size
        is checked first."""
        if not self.ole.exists(name):
            return None
        if self.ole.get_size(name) > self.file_size:
            raise ExtractionError(f"not a readable .msg file ({name} claims more than the file)")
        with self.ole.openstream(name) as stream:
            return bytes(stream.read())


def _from_header(headers: str) -> str:
    for line in headers.splitlines():
        if line.lower().startswith("from:"):
            return line[5:].strip()
    return ""
