"""Words in pictures: which pictures are worth reading by OCR, and what they say.

A screenshot, a photo of a page, a slide or a receipt holds words a person
searches by; a holiday photo does not, and Tesseract takes 0.3-3 s a picture to
find that out. So a cheap look at the pixels decides first (`text_score`, a
few milliseconds on the picture already decoded for the image model): text is
many short, high-contrast strokes on a flat background, in rows. The picture
is cut in tiles of TILE pixels; a tile is texty where most of it is close to
its own background, some of it is far (ink), and the ink changes often along
its rows; a texty tile counts where a neighbour in its row is texty too (words
make lines). Pictures with at least MIN_TILES such tiles are read, however large
(two lines on a photo of a whole desk count). `bench/bench_picture_ocr.py`
measures the gate's precision and recall on labelled pictures and what it adds
to indexing a folder of photos.

What Tesseract reads is kept as `ocr.read` reads it (its unsure words read again,
language by language); but a picture with fewer than MIN_SURE_CHARACTERS letters
in words Tesseract is sure of (SURE) keeps no text: a photo's texture
read as letters is noise in the lexical index.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from searchengine.errors import ExtractionError
from searchengine.records import Passage

from .ocr import OcrOptions, read, unavailable

if TYPE_CHECKING:
    from PIL import Image

TILE = 32  # pixels a side, on the picture as the gate sees it (at most GATE_SIDE wide)
GATE_SIDE = 1024
BACKGROUND_DEVIATION = 12  # grey levels from the tile's median: still background
INK_DEVIATION = 48  # grey levels from it: ink
MIN_BACKGROUND = 0.5  # of a texty tile's pixels
INK_RANGE = (0.03, 0.45)  # of a texty tile's pixels
MIN_TRANSITIONS = 1.5  # ink/background changes per tile row
MIN_TILES = 12
MIN_SIDE = 64  # a smaller picture holds no words worth reading

# Tesseract finds the blocks (a window's title bar, a sidebar, a caption). On the office-ko
# pictures one block of text (--psm 6, as for pages) made fewer character errors (photos 4.7%
# against 6.9%, screenshots at twice their size 6.9% against 7.3%) but searched worse: hybrid
# MRR@10 of the screenshots 0.78 of their .txt against 0.85, of the photos 0.98 against 1.02;
# all 123 answers as screenshots, all 135 queries: 0.901 against 0.945 (bench_screenshots)
SEGMENTATION = "3"
SURE = 70.0  # Tesseract's confidence in a word (0-100): real words score 80-97, texture under
MIN_SURE_CHARACTERS = 10  # letters and digits in sure words of two or more
MAX_OCR_PIXELS = 40_000_000  # a larger picture is read scaled down to this
SMALL_TEXT = 20  # pixels, the median word box: smaller text is read again at twice the size


@dataclass(frozen=True)
class GateScore:
    tiles: int  # texty tiles with a texty neighbour in their row
    fraction: float  # of all tiles

    @property
    def has_text(self) -> bool:
        return self.tiles >= MIN_TILES


def text_score(image: Image.Image) -> GateScore:
    """How much of `image` looks like lines of text (see the module's docstring)."""
    if image.width > GATE_SIDE:
        image = image.resize((GATE_SIDE, max(1, round(image.height * GATE_SIDE / image.width))))
    grey = np.asarray(image.convert("L"), dtype=np.int16)
    rows, cols = grey.shape[0] // TILE, grey.shape[1] // TILE
    if rows == 0 or cols == 0:
        return GateScore(0, 0.0)
    tiles = grey[: rows * TILE, : cols * TILE].reshape(rows, TILE, cols, TILE).swapaxes(1, 2)
    # each tile's background: the median of a quarter of its pixels (as good, 4x cheaper)
    level = np.median(tiles[:, :, ::2, ::2], axis=(2, 3), keepdims=True).astype(np.int16)
    deviation = np.abs(tiles - level)
    background = (deviation <= BACKGROUND_DEVIATION).mean(axis=(2, 3))
    ink = deviation > INK_DEVIATION
    share = ink.mean(axis=(2, 3))
    transitions = (ink[..., 1:] != ink[..., :-1]).sum(axis=(2, 3)) / TILE
    texty = (
        (background > MIN_BACKGROUND)
        & (share > INK_RANGE[0])
        & (share < INK_RANGE[1])
        & (transitions > MIN_TRANSITIONS)
    )
    beside = np.zeros_like(texty)
    beside[:, 1:] |= texty[:, :-1]
    beside[:, :-1] |= texty[:, 1:]
    lines = texty & beside
    return GateScore(int(lines.sum()), float(lines.mean()))


def gate_view(upright: Image.Image, model_view: Image.Image) -> Image.Image:
    """The picture as the gate looks at it: the image model's copy, unless the picture is
    so tall (a scrolling screenshot) or wide that its text would shrink below a few pixels
    there; then a copy at most GATE_SIDE wide (and 4 x GATE_SIDE tall: its top is enough)."""
    if upright.width <= model_view.width * 1.5 or upright.width <= GATE_SIDE:
        if max(upright.size) <= 2 * max(model_view.size):
            return model_view
    scale = min(1.0, GATE_SIDE / upright.width)
    width, height = max(1, round(upright.width * scale)), max(1, round(upright.height * scale))
    view = upright.resize((width, height)) if scale < 1 else upright
    return view.crop((0, 0, width, min(height, 4 * GATE_SIDE)))


def wants_ocr(options: OcrOptions | None, view: Image.Image) -> bool:
    """Whether to read this picture: OCR on and able to run, and the gate says text
    (`--ocr all`: every picture large enough)."""
    if options is None or options.mode == "off" or min(view.size) < MIN_SIDE:
        return False
    if unavailable(options) is not None:
        return False
    return options.mode == "all" or text_score(view).has_text


def read_picture(data: bytes, options: OcrOptions) -> list[Passage]:
    """The words of the picture in `data`, read at full size (up to MAX_OCR_PIXELS), as one
    passage marked `ocr`; no passage when it holds too few sure words. An OCR
    failure (its time limit) is an ExtractionError: the caller keeps the picture."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.width * source.height > MAX_OCR_PIXELS:
                scale = math.sqrt(MAX_OCR_PIXELS / (source.width * source.height))
                source.draft("L", (int(source.width * scale), int(source.height * scale)))
            picture = ImageOps.exif_transpose(source).convert("L")
    except (OSError, SyntaxError, ValueError) as exc:
        raise ExtractionError(f"could not be decoded for OCR ({exc})") from exc
    if picture.width * picture.height > MAX_OCR_PIXELS:  # not a JPEG: no reduced decoding
        scale = math.sqrt(MAX_OCR_PIXELS / (picture.width * picture.height))
        picture = picture.resize((int(picture.width * scale), int(picture.height * scale)))
    reading = read(picture, options, SEGMENTATION)
    heights = sorted(w.height for w in reading.words)
    small = bool(heights) and heights[len(heights) // 2] < SMALL_TEXT
    if small and picture.width * picture.height * 4 <= MAX_OCR_PIXELS:
        # screen text (11-17 px): read again at twice the size, where Tesseract does better
        larger = picture.resize((picture.width * 2, picture.height * 2), Image.Resampling.LANCZOS)
        reading = read(larger, options, SEGMENTATION)
    letters = (sum(ch.isalnum() for ch in w.text) for w in reading.words if w.confidence >= SURE)
    sure = sum(n for n in letters if n >= 2)
    if sure < MIN_SURE_CHARACTERS:
        return []
    return [Passage(reading.text, ocr=True)]


def words_if_text(
    data: bytes, upright: Image.Image, model_view: Image.Image, options: OcrOptions | None
) -> list[Passage]:
    """The words of a picture already decoded (`upright`, and the image model's copy of it),
    read by `read_picture` where the gate sees text; none where OCR is off or unable, or the
    gate sees no text."""
    if not wants_ocr(options, gate_view(upright, model_view)):
        return []
    assert options is not None
    return read_picture(data, options)


def picture_words(data: bytes, options: OcrOptions | None) -> list[Passage]:
    """The words of a picture given as bytes (a mail's attachment), as `words_if_text`."""
    from searchengine.models.images import decode_upright

    upright = decode_upright(io.BytesIO(data), GATE_SIDE)
    view = upright.copy()
    view.thumbnail((GATE_SIDE, GATE_SIDE))
    return words_if_text(data, upright, view, options)
