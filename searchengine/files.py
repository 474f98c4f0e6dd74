"""What the engine knows of a file from its name alone: its format, its kind, its identity.

The one table of supported formats: the walk (which files to index), the
reader (how to parse them) and the filters (`--format pdf`) all read it. A
file's identity is its path in Unicode NFC form (`path_key`), so the NFD names
macOS writes and the NFC names a user types are the same file.
"""

from __future__ import annotations

import os
import unicodedata

from searchengine.records import Kind

# Formats by name, each with its extensions (lower case, with the dot).
TEXT_FORMATS: dict[str, tuple[str, ...]] = {
    "pdf": (".pdf",),
    "docx": (".docx",),
    "html": (".html", ".htm"),
    "md": (".md", ".markdown"),
    "txt": (".txt",),
    "hwp": (".hwp",),
    "hwpx": (".hwpx",),
    "pptx": (".pptx",),
    "xlsx": (".xlsx", ".xlsm"),
    "xls": (".xls",),
    "ods": (".ods",),
    "odt": (".odt",),
    "odp": (".odp",),
    "epub": (".epub",),
    "eml": (".eml",),
    "msg": (".msg",),
    "rtf": (".rtf",),
}
IMAGE_FORMATS: dict[str, tuple[str, ...]] = {
    "jpg": (".jpg", ".jpeg"),
    "png": (".png",),
    "webp": (".webp",),
    "gif": (".gif",),
    "bmp": (".bmp",),
    "tiff": (".tif", ".tiff"),
}
FORMATS: dict[str, tuple[str, ...]] = {**TEXT_FORMATS, **IMAGE_FORMATS}
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)  # what the `format` filter takes

TEXT_EXTENSIONS = frozenset(e for exts in TEXT_FORMATS.values() for e in exts)
IMAGE_EXTENSIONS = frozenset(e for exts in IMAGE_FORMATS.values() for e in exts)
FORMAT_BY_EXTENSION = {e: name for name, exts in FORMATS.items() for e in exts}

# What a passage's page number counts in each paged format, as a hit names it ("slide 3").
PLACE_WORDS: dict[str, str] = {
    "pdf": "page",
    "pptx": "slide",
    "odp": "slide",
    "xlsx": "sheet",
    "ods": "sheet",
    "xls": "sheet",
}


def extension(path: str) -> str:
    """A file name's extension, lower case, with the dot ('' if none)."""
    return os.path.splitext(path)[1].lower()


def format_of(path: str) -> str | None:
    """The name of a file's format (a key of FORMATS) by its extension, or None."""
    return FORMAT_BY_EXTENSION.get(extension(path))


def place_of(path: str, page: int | None) -> str | None:
    """Where in its file a chunk is, in its format's words ('slide 3', 'sheet 2'), or None."""
    if page is None:
        return None
    return f"{PLACE_WORDS.get(format_of(path) or '', 'page')} {page}"


def kind_of(path: str) -> Kind | None:
    """'text' or 'image' for a supported file name, else None."""
    ext = extension(path)
    if ext in TEXT_EXTENSIONS:
        return "text"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def path_key(path: str) -> str:
    """The identity of a path: its Unicode NFC form."""
    return unicodedata.normalize("NFC", path)
