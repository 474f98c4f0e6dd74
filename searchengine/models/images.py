"""Safe image decoding, shared by indexing and image queries."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from searchengine.config import DEFAULT_MAX_IMAGE_PIXELS
from searchengine.errors import ExtractionError


def load_image(
    path: Path | IO[bytes], max_side: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> Image.Image:
    """Decode an image (a file, or bytes already read) upright (EXIF applied), RGB, at
    most `max_side` pixels a side.

    An image of more than `max_pixels` is refused from its header, before any
    decoding. PIL's own process-wide limit is left as it is (changing it per
    call would race between threads).
    """
    upright = decode_upright(path, max_side, max_pixels)
    upright.thumbnail((max_side, max_side))
    return upright


def decode_upright(
    path: Path | IO[bytes], max_side: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> Image.Image:
    """The image upright and RGB, decoded at least `max_side` a side where it is larger
    (a JPEG decodes straight to a reduced size: huge photos stay cheap), not yet scaled
    down to it: the indexer also looks at a tall screenshot's text at a readable size."""
    try:
        with Image.open(path) as source:
            width, height = source.size
            if width * height > max_pixels:
                raise ExtractionError(
                    f"image too large to decode safely ({width}x{height} pixels, "
                    f"over the limit of {max_pixels})"
                )
            source.draft("RGB", (max_side, max_side))
            return _to_rgb(ImageOps.exif_transpose(source))
    except Image.DecompressionBombError as exc:
        raise ExtractionError(f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ExtractionError("not a readable image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ExtractionError(f"not a readable image ({exc})") from exc


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")
