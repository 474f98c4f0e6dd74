"""Thumbnails of indexed images, made once and cached in the index folder.

A cached thumbnail is named for the file's id, the size, and the file's size
and mtime on disk, so a changed file gets a new one (the old is removed).
Decoding goes through `load_image`, with the same decompression-bomb limit as
indexing. Documents have no thumbnail (the page shows their kind instead).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from searchengine.models.images import load_image

THUMB_SIZES = (64, 128, 256, 512)
DEFAULT_THUMB_SIZE = 256
CACHE_FOLDER = "thumbs"


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
