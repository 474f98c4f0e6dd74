"""An image's domain: judged in the encoder's pass, stored, shown, filtered on; drawings
keep no ImageNet tags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeImageEncoder
from PIL import Image

from searchengine import Encoders, Index
from searchengine.config import Settings
from searchengine.errors import ConfigError
from searchengine.filters import make_filters
from searchengine.models import domain
from searchengine.models.domain import DomainProbe, judge, probe_for
from searchengine.records import Tag


def write_probe(path: Path, model: str) -> None:
    """A probe over the fake encoder's features (a picture's distance from white per
    channel): red pictures are photos, green ones drawings, blue ones text."""
    from safetensors.numpy import save_file

    weight = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=np.float32)
    meta = {"classes": json.dumps(domain.CLASSES), "model": model}
    save_file({"weight": weight, "bias": np.zeros(3, np.float32)}, str(path), metadata=meta)


class LabellingFake(FakeImageEncoder):
    """The fake image encoder, judging domains from its vectors as the real one does from
    its trunk's pooled features."""

    def encode_and_label(
        self, images: Sequence[Image.Image]
    ) -> tuple[np.ndarray, list[tuple[Tag, ...]], list[str | None]]:
        vectors, tags = self.encode_and_tag(images)
        kept, domains = judge(probe_for(self.name), vectors, tags)
        return vectors, kept, domains


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "domain.safetensors"
    write_probe(path, "fake-image")
    monkeypatch.setattr(domain, "WEIGHTS_FILE", path)
    return path


def test_the_probe_takes_the_best_class_and_only_for_its_model(probe: Path) -> None:
    red, green = [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]
    tags = [(Tag("red", "빨강", 0.9),), (Tag("green", "초록", 0.9),)]
    kept, domains = judge(probe_for("fake-image"), np.array([red, green]), tags)
    assert domains == ["photo", "drawing"] and kept == [tags[0], ()]
    assert probe_for("another-model") is None
    assert judge(None, np.array([red]), tags[:1]) == (tags[:1], [None])
    direct = DomainProbe(np.eye(3), np.zeros(3), domain.CLASSES, "m")
    assert direct.domains(np.array([[0.1, 0.0, 0.9]])) == ["text"]


def test_domains_are_stored_shown_and_filtered(
    probe: Path,
    fake_settings: Settings,
    encoders: Encoders,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name, rgb in (("red", (255, 0, 0)), ("green", (0, 255, 0)), ("blue", (0, 0, 255))):
        Image.new("RGB", (16, 16), rgb).save(folder / f"{name}.png")
    (folder / "note.txt").write_text("a red note about colours", encoding="utf-8")
    labelling = Encoders(text=encoders.text, image=LabellingFake())
    with Index.open(settings=fake_settings, encoders=labelling) as index:
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


def test_an_encoder_without_a_probe_gives_no_domain(
    fake_settings: Settings, encoders: Encoders, tmp_path: Path
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.new("RGB", (16, 16), (0, 255, 0)).save(folder / "green.png")
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(folder)
        (hit,) = index.search("green", spaces={"image"}, mode="dense").hits
        assert hit.domain is None and hit.tags  # as before: tags kept
        assert not index.search("green", filters=make_filters(domains=["drawing"])).hits
