"""Assembling the shipped CLIP's folder: the light path (NumPy) writes what torch writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from searchengine.models import shipped_clip as shipped


@pytest.mark.parametrize("spec", ["semsearch-clip", "semsearch-clip-lite0"])
def test_the_light_assembly_writes_what_torch_writes(
    spec: str, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """The folder is assembled with NumPy (no torch, no transformers: its memory goes back
    to the system); it must hold what the torch path writes, tensor for tensor."""
    from safetensors.numpy import load_file

    weights, config = shipped.shipped_files(spec)
    light, heavy = tmp_path / "light", tmp_path / "heavy"
    light.mkdir()
    heavy.mkdir()
    assert shipped._write_folder_light(light, tmp_path / "final", tiny_bert_dir, weights, config)
    shipped._write_folder(heavy, tmp_path / "final", tiny_bert_dir, weights, config)
    assert sorted(p.name for p in light.iterdir()) == sorted(p.name for p in heavy.iterdir())
    for name in (shipped.CHECKPOINT_NAME, shipped.TAGGER_NAME):
        if not (heavy / name).exists():
            continue
        a, b = load_file(light / name), load_file(heavy / name)
        assert sorted(a) == sorted(b)
        for key in a:
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    for name in ("config.json", "open_clip_config.json"):
        assert (light / name).read_text() == (heavy / name).read_text()
    assert json.loads((light / "config.json").read_text())["pad_token_id"] is not None
