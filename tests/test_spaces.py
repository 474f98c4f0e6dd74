"""Spaces: a CLIP whose text tower is the text model shares query vectors with it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers import paths, run_index

from searchengine.models.spaces import IMAGE, Spaces
from searchengine.query.searcher import Searcher
from searchengine.store import Store


def _space(settings, name: str):
    with Store(settings.index_dir) as store:
        return store.catalog.space(name)


def test_a_shared_text_tower_is_detected_and_used(corpus: Path, settings, tiny_shared_clip_dir):
    settings = replace(settings, image_model=str(tiny_shared_clip_dir))
    run_index(corpus, settings)
    image_space = _space(settings, IMAGE)
    assert image_space.query_fingerprint == _space(settings, "text").fingerprint

    with Store(settings.index_dir) as store:
        spaces = Spaces(store.catalog, settings)
        hits = Searcher(store, spaces).search("red", k=10, kinds={"image"})
        assert {h.kind for h in hits} == {"image"} and len(hits) == 2
        assert spaces._image is None  # the CLIP was never loaded for a text query

        by_example = Searcher(store, spaces).search_image(corpus / "red.png", k=10)
    assert by_example[0].path == str(corpus / "red.png")
    assert {h.kind for h in by_example} == {"image"}


def test_a_separate_text_tower_is_not_mistaken_for_the_text_model(corpus: Path, settings):
    run_index(corpus, settings)
    assert _space(settings, IMAGE).query_fingerprint is None
    with Store(settings.index_dir) as store:
        spaces = Spaces(store.catalog, settings)
        hits = Searcher(store, spaces).search("red", k=10, kinds={"image"})
        assert spaces._image is not None and len(hits) == 2
        by_example = Searcher(store, spaces).search_image(corpus / "red.png", k=10)
    assert {h.kind for h in by_example} == {"image"}
    assert paths(by_example)[0] == "red.png"
