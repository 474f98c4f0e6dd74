"""The image tower on ONNX Runtime: the same vectors as torch, exported once, loaded alone."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from searchengine.models import apart, image_onnx
from searchengine.models.image_encoder import ImageEncoder
from searchengine.models.sources import ImageSource

PREPROCESS = {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "longest",
    "fill_color": 255,
}


TINY_RESNET = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 8}


@pytest.fixture(scope="module")
def resnet_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP whose tower is a ModifiedResNet, as the first shipped tower's is."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("resnet-clip")
    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": TINY_RESNET,
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 49408,
            "width": 16,
            "heads": 2,
            "layers": 1,
        },
    }
    torch.manual_seed(0)
    model = open_clip.CLIP(**model_cfg)  # type: ignore[arg-type]
    cfg = {"model_cfg": model_cfg, "preprocess_cfg": PREPROCESS}
    (folder / "open_clip_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture
def clip_dir(resnet_clip_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "clip"
    shutil.copytree(resnet_clip_dir, folder)
    return folder


def source(folder: Path) -> ImageSource:
    return ImageSource("tiny", f"local-dir:{folder}", None, "test")


def test_pictures_are_prepared_as_open_clip_prepares_them(clip_dir: Path) -> None:
    import open_clip
    import torch

    _, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{clip_dir}")
    prep = image_onnx.preparation(clip_dir)
    assert prep is not None and prep.size == 32 and prep.fill == 255
    images = image_onnx.check_images()
    want = torch.stack([preprocess(im) for im in images]).numpy()
    assert np.abs(prep.pixels(images) - want).max() < 1e-5


def test_exported_once_then_loaded_without_torch(clip_dir: Path) -> None:
    images = image_onnx.check_images()
    on_torch = ImageEncoder(source(clip_dir), engine="torch")
    want = on_torch.encode_images(images)
    assert on_torch.engine == "torch" and not image_onnx.exported(clip_dir)

    first = ImageEncoder(source(clip_dir))  # loads torch, exports, then runs the graph
    assert first.engine == "onnx" and first._model is not None
    meta = json.loads((clip_dir / image_onnx.META).read_text(encoding="utf-8"))
    assert meta["ok"] and meta["min_cosine"] >= image_onnx.MIN_COSINE
    assert np.allclose(first.encode_images(images), want, atol=1e-5)

    later = ImageEncoder(source(clip_dir))
    got = later.encode_images(images)
    assert later._model is None  # the graph alone: no open_clip model was built
    # no memory pattern kept per batch shape (cpu_session: most of the towers' memory)
    assert later._onnx is not None
    assert not later._onnx.session.get_session_options().enable_mem_pattern
    assert later.fingerprint == on_torch.fingerprint and later.dim == on_torch.dim
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(later.encode_texts(["a car"]), on_torch.encode_texts(["a car"]))


@pytest.mark.subprocess
def test_a_big_tower_is_exported_by_a_process_of_its_own(
    clip_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(apart, "APART_BYTES", 0)  # the tiny model is worth one too
    caplog.set_level(logging.INFO)
    images = image_onnx.check_images()
    said: list[str] = []
    first = ImageEncoder(source(clip_dir), on_status=said.append)
    got = first.encode_images(images)
    assert first.engine == "onnx" and first._model is None  # no open_clip model built here
    assert said == ["preparing tiny for ONNX Runtime (one time, ~10-30 s each)"]  # the wait
    assert json.loads((clip_dir / image_onnx.META).read_text(encoding="utf-8"))["ok"]
    (done,) = [r for r in caplog.records if r.getMessage().startswith("exported the image")]
    assert done.process != os.getpid()  # the export ran in a child
    want = ImageEncoder(source(clip_dir), engine="torch").encode_images(images)
    assert np.allclose(got, want, atol=1e-5)


@pytest.mark.subprocess
def test_a_pair_s_towers_are_exported_by_one_process(
    resnet_clip_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from searchengine.models.image_encoder import export_apart

    monkeypatch.setattr(apart, "APART_BYTES", 0)
    caplog.set_level(logging.INFO)
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        shutil.copytree(resnet_clip_dir, folder)
    said: list[str] = []
    encoders = [ImageEncoder(source(folder), on_status=said.append) for folder in folders]
    export_apart(encoders)
    assert len(said) == 1 and "tiny, tiny" in said[0]  # one wait, for both
    done = [r for r in caplog.records if r.getMessage().startswith("exported the image")]
    assert len(done) == 2 and len({r.process for r in done}) == 1  # one child, both towers
    assert done[0].process != os.getpid()
    assert all(enc.engine == "onnx" and enc._model is None for enc in encoders)
    export_apart(encoders)  # nothing left to export: no second process, nothing said
    assert len(said) == 1
    assert len([r for r in caplog.records if r.getMessage().startswith("exported")]) == 2


def test_a_graph_that_fails_its_check_is_not_used_nor_exported_again(
    clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_onnx, "MIN_COSINE", 1.5)  # no graph can pass
    assert ImageEncoder(source(clip_dir)).engine == "torch"
    meta = json.loads((clip_dir / image_onnx.META).read_text(encoding="utf-8"))
    assert not meta["ok"] and "cosine" in meta["reason"]
    assert not (clip_dir / image_onnx.GRAPH).exists()
    monkeypatch.setattr(image_onnx, "export", lambda *a: pytest.fail("exported again"))
    assert ImageEncoder(source(clip_dir)).engine == "torch"


def test_a_model_prepared_otherwise_stays_on_torch(tiny_clip_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, folder)  # open_clip's default: shortest side, centre crop
    assert image_onnx.preparation(folder) is None
    assert ImageEncoder(source(folder)).engine == "torch"
    assert not image_onnx.exported(folder)
