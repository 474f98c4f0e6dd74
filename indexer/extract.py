"""Turn a file into text passages or an image; a failure is an ExtractionError.

Libraries: charset-normalizer (decoding legacy encodings such as CP949),
BeautifulSoup with lxml (visible HTML text), pypdf (per-page PDF text),
python-docx (paragraphs and tables); images load through
searchengine.models.images, which queries share.

Parsers work on bytes already read, so the content parsed is the content
hashed. A .docx is a zip: its declared sizes are checked before python-docx
unpacks it, so a zip bomb is refused rather than unpacked. The time limit per
file is enforced by the process that calls these (indexer.read_worker).
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zipfile

from searchengine.config import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES
from searchengine.errors import ExtractionError
from searchengine.files import FORMAT_BY_EXTENSION
from searchengine.records import Passage

MAX_ZIP_MEMBERS = 10_000
_RATIO_FLOOR = 1024 * 1024  # below this unpacked size a high ratio is harmless

log = logging.getLogger(__name__)

_BLANK_RUNS = re.compile(r"\n\s*\n\s*\n+")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def extract_text_bytes(
    data: bytes,
    ext: str,
    *,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
    max_unpack_ratio: float = DEFAULT_MAX_UNPACK_RATIO,
) -> list[Passage]:
    """Passages of readable text in the content of a file with extension `ext`."""
    fmt = FORMAT_BY_EXTENSION.get(ext)
    if fmt in ("txt", "md"):
        passages = [Passage(decode_text(data))]
    elif fmt == "html":
        passages = [Passage(_html_text(data))]
    elif fmt == "pdf":
        passages = _pdf_pages(data)
    elif fmt == "docx":
        check_zip(data, max_unpacked_bytes, max_unpack_ratio)
        passages = [Passage(_docx_text(data))]
    else:
        raise ExtractionError(f"unsupported file type {ext}")
    passages = [p for p in passages if p.text.strip()]
    if not passages:
        raise ExtractionError("no text in it")
    return passages


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


def _html_text(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    text = soup.get_text(separator="\n")
    return _BLANK_RUNS.sub("\n\n", "\n".join(line.strip() for line in text.splitlines()))


def _pdf_pages(data: bytes) -> list[Passage]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                try:
                    if not reader.decrypt(""):
                        raise ExtractionError("encrypted PDF")
                except (FileNotDecryptedError, NotImplementedError) as exc:
                    raise ExtractionError("encrypted PDF") from exc
            pages = [
                Passage(page.extract_text() or "", page=number)
                for number, page in enumerate(reader.pages, start=1)
            ]
    except ExtractionError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ExtractionError(f"not a readable PDF ({exc})") from exc
    if not any(p.text.strip() for p in pages):
        raise ExtractionError("PDF has no text layer (scanned? OCR is not supported)")
    return pages


def check_zip(data: bytes, max_unpacked_bytes: int, max_unpack_ratio: float) -> None:
    """Refuse a zip that would unpack past the limits (a zip bomb), from its directory alone.

    zipfile never yields more than a member's declared size, so the declared
    sizes bound what unpacking it can cost.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExtractionError("not a valid .docx file") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise ExtractionError(f"a zip of {len(members):,} parts (a zip bomb?)")
    unpacked = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if unpacked > max_unpacked_bytes:
        raise ExtractionError(
            f"unzips to {unpacked:,} bytes, past the {max_unpacked_bytes:,}-byte limit "
            f"(a zip bomb?)"
        )
    if unpacked > _RATIO_FLOOR and unpacked / packed > max_unpack_ratio:
        raise ExtractionError(
            f"compressed {unpacked / packed:,.0f} to 1, past the {max_unpack_ratio:,.0f} to 1 "
            f"limit (a zip bomb?)"
        )


def _docx_text(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractionError("not a valid .docx file") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(parts)
