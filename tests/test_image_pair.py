"""An image model made of two towers in one text space: their vectors' weighted mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeImageEncoder
from PIL import Image

from searchengine.config import Settings
from searchengine.errors import ConfigError, ModelUnavailableError
from searchengine.models.image_pair import PairedImageEncoder
from searchengine.models.presets import IMAGE_PAIRS, describe_presets
from searchengine.models.sources import ImageSource
from searchengine.models.spaces import load_image_encoder

REPO = Path(__file__).resolve().parent.parent


class Part(FakeImageEncoder):
    """A fake tower with a source; `tags` says whether it has a classifier; `swap`
    permutes its vector's axes, so two parts disagree."""

    def __init__(self, name: str, *, tags: bool, swap: bool = False, prefix: str = "q: "):
        super().__init__(name)
        self.swap = swap
        self.source = ImageSource(name, name, None, "test", prefix, "x" if tags else None)
        self.loaded = True

    def encode_images(self, images):  # type: ignore[no-untyped-def]
        v = super().encode_images(images)
        return v[:, ::-1].copy() if self.swap else v

    def encode_and_tag(self, images):  # type: ignore[no-untyped-def]
        _, tags = super().encode_and_tag(images)
        return self.encode_images(images), (
            tags if self.source.tagger_file else [() for _ in images]
        )


def pictures() -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), c) for c in ((250, 20, 20), (20, 20, 250), (20, 200, 20))]


def test_vectors_are_the_normalised_weighted_mean() -> None:
    a, b = Part("a", tags=True), Part("b", tags=False, swap=True)
    pair = PairedImageEncoder("pair", [(a, 0.7), (b, 0.3)])  # type: ignore[list-item]
    got = pair.encode_images(pictures())
    want = 0.7 * a.encode_images(pictures()) + 0.3 * b.encode_images(pictures())
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert np.allclose(got, want, atol=1e-6)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    assert pair.dim == 3 and pair.name == "pair" and pair.source.name == "pair"


def test_tags_come_from_the_part_with_a_classifier() -> None:
    a, b = Part("a", tags=False), Part("b", tags=True, swap=True)
    vectors, tags = PairedImageEncoder("pair", [(a, 0.5), (b, 0.5)]).encode_and_tag(  # type: ignore[list-item]
        pictures()
    )
    # b sees with swapped axes, so its labels differ from a fake tower's: they are b's
    assert [t[0].en for t in tags] == ["blue", "red", "green"]
    assert [t[0].en for t in Part("c", tags=True).encode_and_tag(pictures())[1]] == [
        "red",
        "blue",
        "green",
    ]
    assert vectors.shape == (3, 3)


def test_text_queries_are_the_shared_tower() -> None:
    a, b = Part("a", tags=True), Part("b", tags=False, swap=True)
    pair = PairedImageEncoder("pair", [(a, 0.7), (b, 0.3)])  # type: ignore[list-item]
    assert np.allclose(pair.encode_texts(["red"]), a.encode_texts(["red"]))


def test_the_other_parts_free_their_text_towers_before_the_first_loads() -> None:
    calls: list[str] = []

    class Releasing(Part):
        def release_text_tower(self) -> None:
            calls.append(f"release {self.name}")

        def encode_images(self, images):  # type: ignore[no-untyped-def]
            calls.append(f"encode {self.name}")
            return super().encode_images(images)

    a, b, c = Releasing("a", tags=True), Releasing("b", tags=False), Releasing("c", tags=False)
    pair = PairedImageEncoder("pair", [(a, 0.5), (b, 0.3), (c, 0.2)])  # type: ignore[list-item]
    pair.encode_images(pictures())
    pair.encode_images(pictures())
    assert calls[:2] == ["release b", "release c"]  # once, and never the query-reading part
    assert calls.count("release b") == 1 and "release a" not in calls


def test_the_fingerprint_names_the_parts_and_their_weights() -> None:
    a, b = Part("a", tags=True), Part("b", tags=False)
    one = PairedImageEncoder("pair", [(a, 0.7), (b, 0.3)]).fingerprint  # type: ignore[list-item]
    assert one == PairedImageEncoder("pair", [(a, 0.7), (b, 0.3)]).fingerprint  # type: ignore[list-item]
    assert one != PairedImageEncoder("pair", [(a, 0.6), (b, 0.4)]).fingerprint  # type: ignore[list-item]
    assert one != PairedImageEncoder("pair", [(a, 0.7), (Part("c", tags=False), 0.3)]).fingerprint  # type: ignore[list-item]


def test_parts_that_cannot_be_averaged_are_refused() -> None:
    a = Part("a", tags=True)
    with pytest.raises(ConfigError, match="two or more"):
        PairedImageEncoder("pair", [(a, 1.0)])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="two or more"):
        PairedImageEncoder("pair", [(a, 1.0), (Part("b", tags=False), 0.0)])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="read queries differently"):
        PairedImageEncoder("pair", [(a, 0.5), (Part("b", tags=False, prefix=""), 0.5)])  # type: ignore[list-item]


@pytest.mark.slow  # loads both shipped towers
def test_the_shipped_pair_is_listed_and_built_from_its_presets(tmp_path: Path) -> None:
    rows = {r["name"]: r for r in describe_presets(tmp_path)}
    assert (
        "semsearch-clip-duo" in rows
        and "semsearch-clip-lite0" in rows["semsearch-clip-duo"]["where"]
    )
    enc = load_image_encoder("semsearch-clip-duo", Settings(model_cache=tmp_path))
    assert isinstance(enc, PairedImageEncoder) and not enc.loaded  # nothing loads until used
    assert [(e.name, w) for e, w in enc.parts] == list(IMAGE_PAIRS["semsearch-clip-duo"])


def test_the_shipped_pair_averages_the_real_towers(real_home: Path) -> None:
    settings = Settings(model_cache=real_home / "models")
    pair = load_image_encoder("semsearch-clip-duo", settings)
    assert isinstance(pair, PairedImageEncoder)
    from searchengine.models.images import load_image

    images = [
        load_image(REPO / "sample_corpus" / "images" / n, 1024)
        for n in ("coffee_photo.jpg", "car.png")
    ]
    vectors, tags = pair.encode_and_tag(images)
    parts = [
        (load_image_encoder(n, settings).encode_images(images), w)
        for n, w in IMAGE_PAIRS[pair.name]
    ]
    want = sum(w * v for v, w in parts)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert np.allclose(vectors, want, atol=1e-5)
    assert "에스프레소" in [t.ko for t in tags[0]]  # tags from the ImageNet part
    # queries are e5's: the same vectors as either shipped tower's
    lite0 = load_image_encoder("semsearch-clip-lite0", settings)
    assert np.allclose(pair.encode_texts(["고양이"]), lite0.encode_texts(["고양이"]), atol=1e-5)
    # the second tower's own BERT is freed, but it is still the same model to an index
    second = pair.parts[1][0]
    with pytest.raises(ModelUnavailableError, match="text tower was released"):
        second.encode_texts(["고양이"])
    assert second.fingerprint == load_image_encoder(second.name, settings).fingerprint


def image_model(index) -> str:  # type: ignore[no-untyped-def]
    (space,) = [s for s in index.status().spaces if s["name"] == "image"]
    return str(space["model"])


def test_an_index_of_the_first_tower_moves_to_the_pair(real_home: Path, tmp_path: Path) -> None:
    """Old indexes keep their model; `reembed` moves them to the default pair, tags and all."""
    import shutil

    from searchengine import Index

    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in ("coffee_photo.jpg", "car.png", "cat.png"):
        shutil.copyfile(REPO / "sample_corpus" / "images" / name, folder / name)
    settings = Settings(
        index_dir=tmp_path / "index",
        model_cache=real_home / "models",
        image_model="semsearch-clip",
        word_vectors=False,
    )
    with Index.open(settings=settings) as index:
        index.add(folder)
        assert not index.search("에스프레소", mode="lexical", spaces={"image"}).hits
    reopened = Settings(index_dir=tmp_path / "index", model_cache=real_home / "models")
    with Index.open(settings=reopened) as index:  # no model asked: the recorded one
        assert image_model(index) == "semsearch-clip"
        index.reembed("image", "semsearch-clip-duo")
        assert image_model(index) == "semsearch-clip-duo"
        hits = index.search("에스프레소", mode="lexical", spaces={"image"})
        assert [Path(h.path).name for h in hits] == ["coffee_photo.jpg"]
        assert Path(index.search("승용차", spaces={"image"}, k=1)[0].path).name == "car.png"
