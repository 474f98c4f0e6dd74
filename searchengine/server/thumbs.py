"""Thumbnails of indexed images, of PDFs' first pages and of HWP/HWPX documents (the
preview picture of the first page they carry), made once and cached in the index
folder.

A cached thumbnail is named for the file's id, the size, and the file's size
and mtime on disk, so a changed file gets a new one (the old is removed).
Images are decoded through `load_image`, with the same decompression-bomb limit
as indexing. A PDF's first page is rendered by PDFium straight at the thumbnail
size, so a page of any declared size costs the same few pixels. An HWP or HWPX file's
preview picture is read under the indexer's unpacking limits and decoded like an image.
Other documents have no thumbnail (the page shows their kind instead).
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import zipfile
from pathlib import Path

from PIL import Image

from indexer.formats import hwp, hwpx
from indexer.formats.unpack import Budget
from searchengine.config import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES
from searchengine.errors import ExtractionError
from searchengine.files import format_of
from searchengine.models.images import load_image

THUMB_SIZES = (64, 128, 256, 512)
DEFAULT_THUMB_SIZE = 256
CACHE_FOLDER = "thumbs"


_PDFIUM = threading.Lock()  # PDFium is not thread-safe; the server renders on a thread pool


PREVIEWED = ("pdf", "hwp", "hwpx")  # documents drawn by their first page


def has_thumbnail(kind: str, path: str) -> bool:
    """Whether `thumbnail` can draw this item: images, and PDFs and HWP/HWPX documents by
    their first page, where they are files of their own (a PDF attached to a mail is not:
    its path is inside the mail's)."""
    if kind == "image":
        return True
    return format_of(path) in PREVIEWED and os.path.isfile(path)


def thumb_size(asked: int | None) -> int:
    """The nearest size the cache keeps (a few sizes, so the cache stays small)."""
    if asked is None:
        return DEFAULT_THUMB_SIZE
    return min(THUMB_SIZES, key=lambda s: (abs(s - asked), s))


def thumbnail(index_dir: Path, file_id: int, source: Path, size: int, max_pixels: int) -> Path:
    """The cached JPEG thumbnail of `source`, made now if missing or stale.

    Raises OSError when the file is gone, ExtractionError when it is no readable image.
    """
    stat = source.stat()
    folder = index_dir / CACHE_FOLDER
    # JPEG data, not named as an image: an index folder that is itself indexed stays quiet
    name = f"{file_id}-{size}-{stat.st_size}-{stat.st_mtime_ns}.thumb"
    path = folder / name
    if path.is_file():
        return path
    fmt = format_of(source.name)
    if fmt == "pdf":
        image = first_page(source, size)
    elif fmt in ("hwp", "hwpx"):
        image = load_image(embedded_preview(source), size, max_pixels)
    else:
        image = load_image(source, size, max_pixels)
    folder.mkdir(exist_ok=True)
    for old in folder.glob(f"{file_id}-{size}-*.thumb"):
        old.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, "JPEG", quality=82, optimize=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def embedded_preview(source: Path) -> io.BytesIO:
    """The preview picture of the first page an HWP 5.0 or HWPX file carries."""
    data = source.read_bytes()
    try:
        if format_of(source.name) == "hwp" and not data.startswith(b"PK"):
            picture = hwp.preview_image(data)
        else:  # HWPX, or an HWPX saved under .hwp
            budget = Budget(len(data), DEFAULT_MAX_UNPACKED_BYTES, DEFAULT_MAX_UNPACK_RATIO)
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                picture = hwpx.preview_image(zf, budget)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExtractionError(f"{source.name}: not a readable HWP/HWPX file ({exc})") from None
    if not picture:
        raise ExtractionError(f"{source.name}: carries no preview picture")
    return io.BytesIO(picture)


def first_page(source: Path, size: int) -> Image.Image:
    """The first page of a PDF, rendered to fit in `size` x `size` pixels, on white."""
    import pypdfium2 as pdfium  # only when a PDF thumbnail is asked for

    with _PDFIUM:
        try:
            doc = pdfium.PdfDocument(source)
        except pdfium.PdfiumError as exc:
            raise ExtractionError(f"{source.name}: not a readable PDF ({exc})") from None
        try:
            if len(doc) == 0:
                raise ExtractionError(f"{source.name}: the PDF has no pages")
            page = doc[0]
            width, height = page.get_size()
            if width <= 0 or height <= 0:
                raise ExtractionError(f"{source.name}: the first page has no area")
            scale = size / max(width, height)
            rendered = page.render(scale=scale, may_draw_forms=False)
            return rendered.to_pil().convert("RGB")
        except pdfium.PdfiumError as exc:
            raise ExtractionError(f"{source.name}: cannot render its first page ({exc})") from None
        finally:
            doc.close()
