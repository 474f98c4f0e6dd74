"""An image's domain: judged from its vector at indexing, stored, shown, filtered on;
drawings keep no ImageNet tags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from searchengine import Index
from searchengine.config import Settings
from searchengine.errors import ConfigError
from searchengine.filters import make_filters
from searchengine.models import domain
from searchengine.models.domain import DomainProbe, image_domains


def write_probe(path: Path, model: str) -> None:
    """A probe for the fake image encoder (a picture's vector is its distance from white
    per channel): red pictures are photos, green ones drawings, blue ones text."""
    from safetensors.numpy import save_file

    weight = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=np.float32)
    meta = {"classes": json.dumps(domain.CLASSES), "model": model}
    save_file({"weight": weight, "bias": np.zeros(3, np.float32)}, str(path), metadata=meta)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "domain.safetensors"
    write_probe(path, "fake-image")
    monkeypatch.setattr(domain, "WEIGHTS_FILE", path)
    return path


def test_the_probe_takes_the_best_class_and_only_for_its_model(probe: Path) -> None:
    red, green = [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]
    assert image_domains("fake-image", np.array([red, green])) == ["photo", "drawing"]
    assert image_domains("another-model", np.array([red])) == [None]
    direct = DomainProbe(np.eye(3), np.zeros(3), domain.CLASSES, "m")
    assert direct.domains(np.array([[0.1, 0.0, 0.9]])) == ["text"]


def test_domains_are_stored_shown_and_filtered(
    probe: Path,
    fake_settings: Settings,
    encoders,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name, rgb in (("red", (255, 0, 0)), ("green", (0, 255, 0)), ("blue", (0, 0, 255))):
        Image.new("RGB", (16, 16), rgb).save(folder / f"{name}.png")
    (folder / "note.txt").write_text("a red note about colours", encoding="utf-8")
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(folder)
        hits = index.search("red green blue", spaces={"image"}, mode="dense", k=5).hits
        by_name = {Path(h.path).stem: h for h in hits}
        assert {n: h.domain for n, h in by_name.items()} == {
            "red": "photo",
            "green": "drawing",
            "blue": "text",
        }
        assert by_name["red"].tags and not by_name["green"].tags  # no tags on drawings
        assert by_name["red"].to_json()["domain"] == "photo"
        only = index.search("red green blue", k=5, filters=make_filters(domains=["photo"]))
        assert [Path(h.path).stem for h in only.hits] == ["red"]
        both = make_filters(domains=["drawing,text"])
        assert {Path(h.path).stem for h in index.search("red green blue", filters=both)} == {
            "green",
            "blue",
        }
    with pytest.raises(ConfigError, match="unknown domain 'clipart'") as caught:
        make_filters(domains=["clipart"])
    assert caught.value.parameter == "domain"
