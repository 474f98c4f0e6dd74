"""Work done in a process of its own: a big model's export, whose memory goes with it."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from searchengine.models import apart, text_backends
from searchengine.models.sources import TextSource
from searchengine.models.text_encoder import TextEncoder

pytestmark = pytest.mark.subprocess


def test_the_child_logs_as_the_parent_and_says_how_it_ended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    said = logging.getLogger("searchengine.test_apart")
    assert apart.run_apart(said.info, "written by process %s", "child") == 0
    (record,) = [r for r in caplog.records if r.name == "searchengine.test_apart"]
    assert record.getMessage() == "written by process child" and record.levelno == logging.INFO
    assert record.process != os.getpid()  # it came from the child

    missing = tmp_path / "nothing here"
    assert apart.run_apart(os.remove, str(missing)) == 1  # raised: exit code 1, and why
    assert any(
        "remove failed" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
    )


def test_the_log_level_goes_along(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    said = logging.getLogger("searchengine.test_apart")
    assert apart.run_apart(said.info, "not wanted") == 0
    assert not [r for r in caplog.records if r.name == "searchengine.test_apart"]


def test_only_big_models_are_worth_a_process(tmp_path: Path) -> None:
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"x" * 1024)
    with open(big, "wb") as f:
        f.truncate(apart.APART_BYTES)  # sparse: its size is what counts
    assert not apart.worth_a_process([small, tmp_path / "absent.bin"])
    assert apart.worth_a_process([big])


def test_a_text_model_is_exported_by_a_process_of_its_own(
    tiny_bert_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(apart, "APART_BYTES", 0)  # the tiny model is worth one too
    caplog.set_level(logging.INFO)
    src = TextSource("tiny", str(tiny_bert_dir), "test", "query: ", "passage: ")
    exported = TextEncoder(src, model_cache=tmp_path / "cache")
    vectors = exported.encode(["자동차 구입", "walking my puppy"])
    assert exported.engine == "onnx"
    (done,) = [r for r in caplog.records if r.getMessage().startswith("exported tiny to ONNX")]
    assert done.process != os.getpid()  # the export ran in a child
    (folder,) = (tmp_path / "cache" / "onnx").iterdir()
    assert json.loads((folder / "meta.json").read_text())["ok"]
    plain = TextEncoder(src, engine="torch").encode(["자동차 구입", "walking my puppy"])
    assert np.sum(vectors * plain, axis=1).min() >= 0.9999


def test_a_failed_export_process_leaves_torch_and_tries_again_next_time(
    tiny_bert_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(apart, "APART_BYTES", 0)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bert_dir, broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")  # no model loads
    src = TextSource("tiny", str(broken), "test", "query: ", "passage: ")
    assert text_backends.load_onnx(src, tmp_path / "cache") is None
    assert any("exit code 1" in r.getMessage() for r in caplog.records)
    assert not list((tmp_path / "cache" / "onnx").glob("*/meta.json"))  # not marked tried
