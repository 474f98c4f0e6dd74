"""Switching models: re-embed into a staging space, searchable with the old model, then swap."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import open_catalog, paths, run_index, search

import indexer.reembed
from searchengine import Index
from searchengine.cli.main import main
from searchengine.errors import ModelMismatchError
from searchengine.store import Store


@pytest.fixture(scope="module")
def other_bert_dir(tmp_path_factory, tiny_bert_dir: Path) -> Path:
    """Another tiny BERT: same tokenizer, other weights and another dimension (48)."""
    import torch
    from transformers import BertConfig, BertModel

    out = tmp_path_factory.mktemp("other-bert")
    for f in tiny_bert_dir.iterdir():
        if f.name != "model.safetensors" and f.is_file():
            shutil.copy(f, out / f.name)
    config = BertConfig.from_pretrained(tiny_bert_dir)
    config.hidden_size, config.num_attention_heads, config.intermediate_size = 48, 2, 96
    torch.manual_seed(5)
    BertModel(config).save_pretrained(out)
    return out


def _verify(settings):
    return Index.open(settings=settings).verify()


def _reembed(settings, space: str, model: str, should_stop=None):
    with Index.open(settings=settings) as index:
        return index.reembed(space, model, should_stop=should_stop)


def _spaces(settings) -> dict[str, dict]:
    """The spaces as `status` shows them, with the models the index holds now."""
    with Index.open(settings=replace(settings, text_model=None, image_model=None)) as index:
        return {s["name"]: s for s in index.status().spaces}


def test_switching_the_text_model_is_resumable_and_atomic(corpus, settings, other_bert_dir, caplog):
    run_index(corpus, settings)
    query = (corpus / "dog.md").read_text()
    before = paths(search(settings, query, 10, {"text"}))
    old = settings
    new = replace(settings, text_model=str(other_bert_dir))
    # an index made with one model refuses the other
    with pytest.raises(ModelMismatchError):
        run_index(corpus, new)

    with Index.open(settings=settings) as reader:  # an index that stays open throughout
        assert paths(reader.search(query, spaces={"text"})) == before

        calls = []
        half = _reembed(
            settings, "text", str(other_bert_dir), lambda: bool(calls.append(1)) or len(calls) > 1
        )
        assert half.interrupted and not half.swapped and half.encoded > 0
        # until the swap: the old model, the old vectors, nothing to repair
        assert paths(search(old, query, 10, {"text"})) == before
        assert paths(reader.search(query, spaces={"text"})) == before
        report = _verify(settings)
        assert report.clean and any("under way" in n for n in report.notes)

        rest = _reembed(settings, "text", str(other_bert_dir))
        assert rest.swapped and rest.encoded + half.encoded == 4  # each chunk once

        spaces = _spaces(settings)
        assert (spaces["text"]["model"], spaces["text"]["dim"]) == (str(other_bert_dir), 48)
        assert "text.next" not in spaces
        # the long-lived index follows the switch: new model (the old one's 32-dim
        # query vectors would not fit the 48-dim index), new index generation
        with caplog.at_level(logging.INFO, logger="searchengine"):
            hits = reader.search(query, spaces={"text"})
        assert paths(hits)[0] == "dog.md"
        assert "switched to other models; loading them" in caplog.text

    assert _verify(settings).clean
    assert paths(search(new, query, 10, {"text"}))[0] == "dog.md"
    with pytest.raises(ModelMismatchError):  # and now the old one is refused
        run_index(corpus, old)
    (corpus / "bread.txt").write_text("bread and flour in the oven")
    summary = run_index(corpus, replace(new, image_model=settings.image_model))
    assert summary.added == 1
    assert _reembed(settings, "text", str(other_bert_dir)).already


@pytest.mark.sqlite_only("counts vectors with status; a shared catalog reports the cache")
def test_a_switch_reads_long_chunks_in_pieces_of_the_new_tokenizer(
    corpus, settings, other_bert_dir
) -> None:
    """Vectors of 8 tokens: the new model's vectors read each chunk in pieces too, and
    verify finds them reading every chunk whole."""
    pieces = replace(settings, vector_tokens=8)
    run_index(corpus, pieces)
    before = _spaces(pieces)["text"]["vectors"]
    assert before > 4  # more vectors than the 4 chunks
    with Index.open(settings=pieces) as index:
        done = index.reembed("text", str(other_bert_dir))
    # the same tokenizer: the same pieces, each chunk read once (not once per old vector)
    assert done.swapped and _spaces(pieces)["text"]["vectors"] == done.encoded == before
    assert _verify(pieces).clean
    assert _spaces(pieces)["text"]["model"] == str(other_bert_dir)
    new = replace(pieces, text_model=str(other_bert_dir))
    assert "dog.md" in paths(search(new, (corpus / "dog.md").read_text(), 10, {"text"}))


@pytest.mark.sqlite_only("the one writer keeps the index files")
def test_a_switch_killed_between_commit_and_rename_is_finished_on_open(
    corpus, settings, other_bert_dir, monkeypatch, caplog
):
    run_index(corpus, settings)

    real_replace = indexer.reembed.os.replace

    def killed(src, dst):  # type: ignore[no-untyped-def]
        if Path(dst).name == "text.hnsw" and Path(src).name == "text.next.hnsw":
            raise SystemExit("killed after the swap was committed")
        return real_replace(src, dst)

    monkeypatch.setattr(indexer.reembed.os, "replace", killed)
    with pytest.raises(SystemExit):
        _reembed(settings, "text", str(other_bert_dir))
    monkeypatch.undo()
    assert (settings.index_dir / "text.next.hnsw").exists()
    with Store(settings.index_dir, writer=True):  # the next writer to open the folder
        pass
    assert "finished the model switch of the text space" in caplog.text
    assert not (settings.index_dir / "text.next.hnsw").exists()
    assert _verify(settings).clean
    new = replace(settings, text_model=str(other_bert_dir))
    assert paths(search(new, (corpus / "car.txt").read_text(), 10, {"text"}))[0] == "car.txt"


def test_switching_the_image_model_reads_images_again(
    corpus, settings, tiny_shared_clip_dir, capsys
):
    run_index(corpus, settings)
    (corpus / "sub" / "blue.jpg").unlink()  # gone since: dropped, not kept with an old vector
    base = ["--index", str(settings.index_dir)]
    code = main([*base, "reembed", "--image-model", str(tiny_shared_clip_dir), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["swapped"] and doc["encoded"] == 1
    assert [Path(d["path"]).name for d in doc["dropped"]] == ["blue.jpg"]
    spaces = _spaces(settings)
    assert spaces["image"]["model"] == str(tiny_shared_clip_dir)
    catalog = open_catalog(settings.index_dir)
    try:  # its text tower is the text model: a catalog fact that status does not show
        assert catalog.space("image").query_fingerprint == spaces["text"]["fingerprint"]
    finally:
        catalog.close()
    assert _verify(settings).clean
    new = replace(settings, image_model=str(tiny_shared_clip_dir))
    assert paths(search(new, "red", 10, {"image"})) == ["red.png"]
    code = main([*base, "reembed", "--image-model", str(tiny_shared_clip_dir)])
    assert code == 0 and "already uses" in capsys.readouterr().out
