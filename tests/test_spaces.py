"""Spaces: a CLIP whose text tower is the text model shares query vectors with it.

Model plumbing, so tiny real models: the image model is loaded only when a
search needs it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import open_catalog, paths, run_index

from searchengine import Index
from searchengine.models.image_encoder import ImageEncoder
from searchengine.models.sources import ImageSource, TextSource
from searchengine.models.spaces import shared_text_tower


@pytest.fixture
def image_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The image models loaded from now on."""
    loads: list[str] = []
    real_load = ImageEncoder._load

    def counting(self):  # type: ignore[no-untyped-def]
        if not self.loaded:
            loads.append(self.name)
        real_load(self)

    monkeypatch.setattr(ImageEncoder, "_load", counting)
    return loads


def _shared_tower(index: Index) -> bool:
    """Whether the index records that its CLIP's text tower is the text model."""
    catalog = open_catalog(index.path)
    try:
        image, text = catalog.space("image"), catalog.space("text")
    finally:
        catalog.close()
    assert image is not None and text is not None
    return image.query_fingerprint == text.fingerprint


def test_a_shared_text_tower_is_detected_and_used(
    corpus: Path, settings, tiny_shared_clip_dir, image_loads: list[str]
):
    settings = replace(settings, image_model=str(tiny_shared_clip_dir))
    run_index(corpus, settings)
    image_loads.clear()
    with Index.open(settings=settings) as index:
        assert _shared_tower(index)
        hits = index.search("red", k=10, spaces={"image"})
        assert {h.kind for h in hits} == {"image"} and len(hits) == 2
        assert image_loads == []  # the CLIP was never loaded for a text query

        unmeasured = index.search(image=corpus / "red.png", k=10)
    # a model nobody measured for it finds no documents from a picture ("auto")...
    assert {h.kind for h in unmeasured} == {"image"}
    with Index.open(settings=replace(settings, image_to_documents="vector")) as index:
        by_example = index.search(image=corpus / "red.png", k=10)
        pictures_only = index.search(image=corpus / "red.png", k=10, spaces={"image"})
    assert by_example[0].path == str(corpus / "red.png")
    # ...asked to, a tower that lives in the text model's space finds them by its vector
    assert {h.kind for h in by_example} == {"image", "text"}
    assert {h.kind for h in pictures_only} == {"image"}


def test_a_separate_text_tower_is_not_mistaken_for_the_text_model(
    corpus: Path, settings, image_loads: list[str]
):
    run_index(corpus, settings)
    image_loads.clear()
    with Index.open(settings=settings) as index:
        assert not _shared_tower(index)
        hits = index.search("red", k=10, spaces={"image"})
        assert image_loads == [settings.image_model] and len(hits) == 2
        by_example = index.search(image=corpus / "red.png", k=10)
    # another space and no tags: nothing to find documents with, so pictures only
    assert {h.kind for h in by_example} == {"image"}
    assert paths(by_example)[0] == "red.png"


class _Text:
    dim, fingerprint = 3, "text-fp"

    def __init__(self, location: str) -> None:
        self.source = TextSource("e5-small", location, "test", "query: ", "passage: ")

    def encode(self, texts, role):  # type: ignore[no-untyped-def]
        return np.tile(np.eye(3, dtype=np.float32)[0], (len(texts), 1))


class _Image:
    dim = 3

    def __init__(self, tower: str | None) -> None:
        self.source = ImageSource("shipped", "local-dir:x", None, "t", "query: ", text_tower=tower)
        self.probed = 0

    def encode_texts(self, texts):  # type: ignore[no-untyped-def]
        self.probed += 1  # the real tower loads a second text model (and torch) here
        return np.tile(np.eye(3, dtype=np.float32)[1], (len(texts), 1))


def test_a_tower_made_of_the_text_models_folder_is_known_without_loading_it() -> None:
    image = _Image(tower="/models/e5")
    assert shared_text_tower(_Text("/models/e5"), image) == "text-fp"
    assert image.probed == 0
    # another folder (another copy of e5, another model): measured on the probes, which
    # here give other vectors
    other = _Image(tower="/models/other-e5")
    assert shared_text_tower(_Text("/models/e5"), other) is None
    assert other.probed == 1
    unknown = _Image(tower=None)
    assert shared_text_tower(_Text("/models/e5"), unknown) is None and unknown.probed == 1
