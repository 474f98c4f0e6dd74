"""Image decoding refuses bombs without touching PIL's process-wide settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from searchengine.errors import ExtractionError
from searchengine.models.images import load_image


def test_too_many_pixels_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 300), "white").save(path)
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ExtractionError, match="too large to decode safely"):
        load_image(path, max_side=64, max_pixels=400 * 300 - 1)
    assert load_image(path, max_side=64, max_pixels=400 * 300).size == (64, 48)
    assert Image.MAX_IMAGE_PIXELS == before  # a per-call change would race between threads
