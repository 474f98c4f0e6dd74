"""Turn a file into text passages or an image; a failure is an ExtractionError.

Libraries: charset-normalizer (decoding legacy encodings such as CP949),
BeautifulSoup with lxml (visible HTML text), pypdf (per-page PDF text),
python-docx (paragraphs and tables), PDFium (a scanned PDF page rendered for
OCR, `indexer.ocr`); the office formats (HWP, HWPX, slides,
sheets, OpenDocument, EPUB, mail and Outlook messages, RTF) have their readers
in `indexer.formats`; images load through searchengine.models.images, which
queries share.

Parsers work on bytes already read, so the content parsed is the content
hashed. A zip package (.docx, .xlsx, .hwpx, ...) has its declared sizes checked
before anything unpacks it, so a zip bomb is refused rather than unpacked, and
every stream inflated or read inside a file spends one budget of
`max_unpacked_bytes` (and the ratio limit). The time limit per file is enforced
by the process that calls these (indexer.read_worker).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
import zipfile

from searchengine.config import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES
from searchengine.errors import ExtractionError
from searchengine.files import FORMAT_BY_EXTENSION, IMAGE_EXTENSIONS, extension
from searchengine.records import Attached, Passage

from .formats import epub, hwp, hwpx, mail, opendocument, outlook, rtf, sheets, slides
from .formats.text import decode_text, html_text
from .formats.unpack import MAX_ZIP_MEMBERS, Budget, check_zip, open_zip
from .ocr import OcrOptions, read_text, unavailable
from .picture_text import picture_words

__all__ = [
    "MAX_ZIP_MEMBERS",
    "check_zip",
    "decode_text",
    "extract_document",
    "extract_text_bytes",
]

log = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
_ZIP_FORMS = {"hwp": "hwpx", "xls": "xlsx"}

OCR_DPI = 200  # shared/OFFLINE.md: 5-7% character errors on a 200 dpi scan, 0.3-0.9 s a page
MAX_OCR_PIXELS = 40_000_000  # a larger page (a poster) is rendered at a lower DPI
MAX_OCR_PAGES = 1000  # scanned pages read in one file (over 20 min on one core): the rest not
LITTLE_TEXT_CHARS = 32  # under --ocr all, a page with less text than this is read by OCR too
MAX_MAIL_DEPTH = 3  # mails attached inside mails: deeper ones are not opened

# zip packages, each read from its checked zip
_ZIPPED = {
    "hwpx": hwpx.read_hwpx,
    "xlsx": sheets.read_xlsx,
    "ods": sheets.read_ods,
    "odt": opendocument.read_odt,
    "odp": opendocument.read_odp,
    "epub": epub.read_epub,
}


def extract_text_bytes(
    data: bytes,
    ext: str,
    *,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
    max_unpack_ratio: float = DEFAULT_MAX_UNPACK_RATIO,
    ocr: OcrOptions | None = None,
) -> list[Passage]:
    """Passages of readable text in the content of a file with extension `ext`;
    `ocr` says whether scanned pages are read (None: they are not). A mail's attached
    files are not among them: `extract_document` reads those as items of their own."""
    passages, _ = extract_document(
        data,
        ext,
        max_unpacked_bytes=max_unpacked_bytes,
        max_unpack_ratio=max_unpack_ratio,
        ocr=ocr,
        attachments=False,
    )
    return passages


def extract_document(
    data: bytes,
    ext: str,
    *,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
    max_unpack_ratio: float = DEFAULT_MAX_UNPACK_RATIO,
    ocr: OcrOptions | None = None,
    attachments: bool = True,
) -> tuple[list[Passage], list[Attached]]:
    """The file's own passages, and the files attached to it (a mail's) that could be
    read, each with its passages (`records.Attached`)."""
    budget = Budget(len(data), max_unpacked_bytes, max_unpack_ratio)
    depth = 0 if attachments else None
    return _document(data, ext, budget, max_unpacked_bytes, max_unpack_ratio, ocr, depth)


def _document(
    data: bytes,
    ext: str,
    budget: Budget,
    max_unpacked_bytes: int,
    max_unpack_ratio: float,
    ocr: OcrOptions | None,
    depth: int | None,
) -> tuple[list[Passage], list[Attached]]:
    """`depth`: how many mails this file is attached inside (None: attachments are not
    read). Everything unpacked spends `budget`, attachments included; a zip package
    declaring more than `max_unpacked_bytes` is refused unopened."""
    fmt = FORMAT_BY_EXTENSION.get(ext)
    if fmt in _ZIP_FORMS and data.startswith(_ZIP_MAGIC):
        fmt = _ZIP_FORMS[fmt]  # the zip form of a format saved under the binary form's name
    attached: list[Attached] = []
    if fmt in ("txt", "md"):
        passages = [Passage(decode_text(data))]
    elif fmt == "html":
        passages = [Passage(html_text(data))]
    elif fmt == "pdf":
        passages = _pdf_pages(data, ocr or OcrOptions(mode="off"))
    elif fmt == "docx":
        check_zip(data, max_unpacked_bytes, max_unpack_ratio)
        passages = [Passage(_docx_text(data))]
    elif fmt == "pptx":
        check_zip(data, max_unpacked_bytes, max_unpack_ratio, fmt)
        passages = slides.read_pptx(data)
    elif fmt in _ZIPPED:
        with open_zip(data, fmt, max_unpacked_bytes, max_unpack_ratio) as zf:
            passages = _ZIPPED[fmt](zf, budget)
    elif fmt == "hwp":
        passages = hwp.read_hwp(data, budget)
    elif fmt == "xls":
        passages = sheets.read_xls(data, budget)
    elif fmt in ("eml", "msg"):
        passages, files = mail.read_eml(data) if fmt == "eml" else outlook.read_msg(data)
        if depth is not None:
            attached = _attachments(files, budget, max_unpack_ratio, ocr, depth)
    elif fmt == "rtf":
        passages = rtf.read_rtf(data)
    else:
        raise ExtractionError(f"unsupported file type {ext}")
    passages = [p for p in passages if p.text.strip()]
    if not passages:
        raise ExtractionError("no text in it")
    return passages, attached


def _attachments(
    files: list[mail.Attachment],
    budget: Budget,
    max_unpack_ratio: float,
    ocr: OcrOptions | None,
    depth: int,
) -> list[Attached]:
    """A mail's attached files that are documents (or pictures with words, where OCR
    runs), each read as an item of its own, numbered in the mail's order ('2/notes.docx');
    the attachments of a mail attached to it come after that mail, under its name. A file
    that cannot be read is left out, and the mail is indexed all the same; every
    attachment spends the mail's unpacking budget, and a mail attached inside mails deeper
    than MAX_MAIL_DEPTH is not opened."""
    out: list[Attached] = []
    for number, item in enumerate(files, start=1):
        ext = extension(item.name)
        budget.spend(len(item.data))
        name = f"{number}/{_safe_name(item.name)}"
        inner: list[Attached] = []
        try:
            if FORMAT_BY_EXTENSION.get(ext) in ("eml", "msg") and depth >= MAX_MAIL_DEPTH:
                continue
            if ext in IMAGE_EXTENSIONS:
                passages = picture_words(item.data, ocr)
            elif ext in FORMAT_BY_EXTENSION:
                limit = max(budget.left, 1)
                passages, inner = _document(
                    item.data, ext, budget, limit, max_unpack_ratio, ocr, depth + 1
                )
            else:
                continue
        except ExtractionError as exc:
            log.info("attachment %s not read: %s", item.name, exc)
            continue
        passages = [p for p in passages if p.text.strip()]
        if passages:
            digest = hashlib.sha256(item.data).hexdigest()
            out.append(Attached(name, len(item.data), digest, passages))
            out += [Attached(f"{name}/{a.name}", a.size, a.sha256, a.passages) for a in inner]
    return out


def _safe_name(name: str) -> str:
    """An attachment's file name as one path segment: no folders, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c if c.isprintable() else "_" for c in base).strip()
    return base if base not in ("", ".", "..") else "attachment"


def _pdf_pages(data: bytes, ocr: OcrOptions) -> list[Passage]:
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
    scanned = [p.page for p in pages if p.page is not None and _wants_ocr(p.text, ocr.mode)]
    if len(scanned) > MAX_OCR_PAGES:
        log.info("%d scanned pages: only the first %d are read", len(scanned), MAX_OCR_PAGES)
        scanned = scanned[:MAX_OCR_PAGES]
    reason = unavailable(ocr) if scanned else None
    if scanned and reason is None:
        read = _ocr_pages(data, scanned, ocr)
        pages = [_better(p, read[p.page]) if p.page in read else p for p in pages]
    if not any(p.text.strip() for p in pages):
        if reason is not None:
            raise ExtractionError(f"PDF has no text layer (scanned); {reason}")
        if ocr.mode == "off":
            raise ExtractionError("PDF has no text layer (scanned; --ocr off: auto reads it)")
        raise ExtractionError("PDF has no text, not even by OCR")
    return pages


def _wants_ocr(text: str, mode: str) -> bool:
    if mode == "off":
        return False
    if mode == "all":
        return len("".join(text.split())) < LITTLE_TEXT_CHARS
    return not text.strip()  # auto: the pages with no text layer


def _better(layer: Passage, read: Passage) -> Passage:
    """The page's text layer, or what OCR read where that holds more (--ocr all)."""
    return read if len("".join(read.text.split())) > len("".join(layer.text.split())) else layer


def _ocr_pages(data: bytes, numbers: list[int], ocr: OcrOptions) -> dict[int, Passage]:
    """Each page rendered by PDFium and read by Tesseract, as a Passage marked `ocr`."""
    import pypdfium2 as pdfium

    out: dict[int, Passage] = {}
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ExtractionError(f"not a readable PDF for OCR ({exc})") from exc
    try:
        for number in numbers:
            page = pdf[number - 1]
            try:
                width, height = page.get_size()  # in points, 72 to the inch
                scale = OCR_DPI / 72
                if width * height * scale * scale > MAX_OCR_PIXELS:
                    scale = math.sqrt(MAX_OCR_PIXELS / max(width * height, 1.0))
                image = page.render(scale=scale, grayscale=True).to_pil()
            finally:
                page.close()
            out[number] = Passage(read_text(image, ocr), page=number, ocr=True)
            if ocr.on_page is not None:
                ocr.on_page()
    except pdfium.PdfiumError as exc:
        raise ExtractionError(f"a page could not be rendered for OCR ({exc})") from exc
    finally:
        pdf.close()
    return out


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
