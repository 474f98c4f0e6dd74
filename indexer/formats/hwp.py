"""HWP 5.0, the binary format of Hangul (한글): an OLE compound file of record streams.

The text is in `BodyText/Section0`, `Section1`, ...: each a (raw-deflate
compressed, when the header says so) run of records whose PARA_TEXT records
hold a paragraph as UTF-16 with inline controls; table cells are paragraphs
too, so their text comes in reading order. Encrypted and distribution-protected
(배포용) documents keep only placeholder text there, so they are skipped with
that reason. Every stream is inflated under the file's unpacking budget.

The record layout follows the published HWP 5.0 specification; the handling of
controls and protection flags was checked against `extract-hwp` (BSD-3).
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .unpack import Budget

_SIGNATURE = b"HWP Document File"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_BYTES = 256
_PARA_TEXT = 67  # HWPTAG_BEGIN (16) + 51
_PREVIEW = "PrvImage"

# FileHeader property bits
_COMPRESSED = 1 << 0
_PASSWORD = 1 << 1
_DISTRIBUTION = 1 << 2
_DRM = 1 << 4
_CERT_ENCRYPTED = 1 << 8
_CERT_DRM = 1 << 10

# control characters that take 8 WCHARs (the code, 6 of data, the code again)
_WIDE_CONTROLS = frozenset([*range(1, 10), 11, 12, *range(14, 24)])
_SECTION = re.compile(r"Section(\d+)")


def read_hwp(data: bytes, budget: Budget) -> list[Passage]:
    """One passage of text per body section of an HWP 5.0 document."""
    with _opened(data) as ole:
        flags = _flags(ole, data)
        sections = sorted(
            (int(m.group(1)), "/".join(entry))
            for entry in ole.listdir()
            if len(entry) == 2
            and entry[0] == "BodyText"
            and (m := _SECTION.fullmatch(entry[1])) is not None
        )
        if not sections:
            raise ExtractionError("not a readable HWP file (it has no body text)")
        passages = []
        for _, name in sections:
            raw = _stream(ole, name, len(data))
            if flags & _COMPRESSED:
                body = budget.inflate(raw, raw=True)
            else:
                body = raw
                budget.spend(len(body))
            passages.append(Passage(_section_text(body)))
        return passages


def preview_image(data: bytes) -> bytes | None:
    """The preview picture an HWP 5.0 file carries (PNG, GIF or BMP bytes), if any: a
    thumbnail of its first page that needs no rendering."""
    with _opened(data) as ole:
        if not ole.exists(_PREVIEW):
            return None
        return _stream(ole, _PREVIEW, len(data))


@contextmanager
def _opened(data: bytes) -> Iterator[Any]:
    """The OLE compound file in `data`; whatever it is missing is a damaged file."""
    import olefile

    if data.startswith(_SIGNATURE):
        raise ExtractionError("an HWP 3 document (only HWP 5.0 and HWPX are read)")
    if not data.startswith(_OLE_MAGIC):
        raise ExtractionError("not a valid HWP file (no OLE compound file header)")
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError, struct.error) as exc:
        raise ExtractionError(
            f"not a readable HWP file (a damaged or truncated file: {exc})"
        ) from None
    try:
        yield ole
    except (OSError, ValueError, IndexError, struct.error) as exc:
        raise ExtractionError(
            f"not a readable HWP file (a damaged or truncated file: {exc})"
        ) from None
    finally:
        ole.close()


def _flags(ole: Any, data: bytes) -> int:
    header = _stream(ole, "FileHeader", len(data))
    if len(header) < 40 or not header.startswith(_SIGNATURE):
        raise ExtractionError("not a valid HWP file (no HWP header)")
    (flags,) = struct.unpack_from("<I", header, 36)
    if flags & _PASSWORD:
        raise ExtractionError("encrypted HWP (password protected)")
    if flags & _DISTRIBUTION:
        raise ExtractionError("distribution-protected HWP (배포용 문서: its text is encrypted)")
    if flags & (_DRM | _CERT_ENCRYPTED | _CERT_DRM):
        raise ExtractionError("DRM-protected HWP (its text is encrypted)")
    return int(flags)


def _stream(ole: Any, name: str, file_size: int) -> bytes:
    """A stream's bytes; olefile reads a whole stream at once, so its declared size is checked
    first (no stream of a file can hold more than the file)."""
    if not ole.exists(name):
        raise ExtractionError(f"not a valid HWP file (no {name} stream)")
    size = ole.get_size(name)
    if size > file_size:
        raise ExtractionError(
            f"not a readable HWP file (its {name} stream claims {size:,} bytes, "
            f"more than the file holds)"
        )
    with ole.openstream(name) as stream:
        data = bytes(stream.read(size))
    if len(data) < size:  # olefile reads what a cut-off file still has
        raise ExtractionError(
            f"not a readable HWP file (truncated: its {name} stream is cut short)"
        )
    return data


def _section_text(data: bytes) -> str:
    return "".join(_para_text(payload) for tag, payload in _records(data) if tag == _PARA_TEXT)


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, payload) records of a stream; a record cut short is a damaged file."""
    out = []
    offset, n = 0, len(data)
    while offset < n:
        if offset + 4 > n:
            raise ExtractionError("not a readable HWP file (a record header is cut short)")
        (head,) = struct.unpack_from("<I", data, offset)
        tag, size = head & 0x3FF, head >> 20
        offset += 4
        if size == 0xFFF:  # the real size follows
            if offset + 4 > n:
                raise ExtractionError("not a readable HWP file (a record size is cut short)")
            (size,) = struct.unpack_from("<I", data, offset)
            offset += 4
        if offset + size > n:
            raise ExtractionError("not a readable HWP file (a record is cut short)")
        out.append((tag, data[offset : offset + size]))
        offset += size
    return out


def _para_text(payload: bytes) -> str:
    """A paragraph's characters, with its controls skipped and its breaks kept."""
    codes = struct.unpack_from(f"<{len(payload) // 2}H", payload)
    parts: list[str] = []
    i, n = 0, len(codes)
    while i < n:
        code = codes[i]
        i += 1
        if code >= 32:
            parts.append(chr(code))
        elif code in (10, 13):
            parts.append("\n")
        elif code == 9:  # a tab is an 8-WCHAR inline control
            parts.append("\t")
            i += 7
        elif code in _WIDE_CONTROLS:
            i += 7
        elif code == 24:
            parts.append("-")
        elif code in (30, 31):
            parts.append(" ")
    # surrogate pairs arrive as two code units: join them into one character
    return "".join(parts).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
