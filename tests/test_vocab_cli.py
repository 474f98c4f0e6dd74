"""`semsearch related` and the word-vector options of `search` and `eval`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_vocab import CAR_TERMS, NO_SEDAN, write_topic_docs

from searchengine import Index, Settings
from searchengine.cli.main import main


@pytest.fixture
def indexed(tmp_path: Path, fake_settings: Settings, encoders) -> list[str]:  # type: ignore[no-untyped-def]
    settings = replace(fake_settings, word_vectors_min_tokens=1_000)
    with Index.open(settings=settings, encoders=encoders) as idx:
        idx.add(write_topic_docs(tmp_path / "topics"))
    return ["--index", str(settings.index_dir)]


def _cli(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_related_text(indexed: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _cli(capsys, *indexed, "related", "engines", "-k", "4")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "nearest to engin (word2vec):"
    assert len(lines) == 5 and lines[1].startswith("  1. ")
    assert "×" in lines[1]  # the corpus count


def test_related_json(indexed: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _cli(capsys, *indexed, "related", "sedan", "--json", "--method", "glove")
    assert code == 0
    doc = json.loads(out)
    assert doc["method"] == "glove" and doc["positive"] == ["sedan"]
    found = doc["neighbours"]
    assert len(found) == 10
    assert [n["score"] for n in found] == sorted((n["score"] for n in found), reverse=True)
    assert all(n["count"] >= 3 for n in found)
    assert sum(n["word"] in CAR_TERMS for n in found[:5]) >= 4


def test_analogy_both_ways(indexed: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    _, out1, _ = _cli(capsys, *indexed, "related", "car", "-", "bread", "+", "oven", "--json")
    _, out2, _ = _cli(capsys, *indexed, "related", "--analogy", "car", "bread", "oven", "--json")
    a, b = json.loads(out1), json.loads(out2)
    assert a["positive"] == ["car", "oven"] and a["negative"] == ["bread"]
    assert a["neighbours"] == b["neighbours"]
    assert not {"car", "bread", "oven"} & {n["word"] for n in a["neighbours"]}


def test_unknown_word(indexed: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _cli(capsys, *indexed, "related", "zeppelins")
    assert code == 6 and out == ""
    assert "'zeppelin' (from 'zeppelins') does not occur often enough" in err


def test_no_word_given(indexed: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _cli(capsys, *indexed, "related")
    assert code == 2 and "give WORD" in err


def test_korean_word(tmp_path: Path, fake_settings: Settings, encoders, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = replace(fake_settings, word_vectors_min_tokens=1_000)
    with Index.open(settings=settings, encoders=encoders) as idx:
        idx.add(write_topic_docs(tmp_path / "ko", korean=True))
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "related", "자동차를", "--json")
    assert code == 0 and json.loads(out)["positive"] == ["자동차"]


def test_png(indexed: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "words.png"
    code, out, _ = _cli(capsys, *indexed, "related", "sedan", "--png", str(png), "--json")
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(out)["png"] == str(png.resolve())


def test_related_map_for_the_page(indexed: list[str]) -> None:
    with Index.open(indexed[1]) as idx:
        drawn = idx.related_map("sedan", k=15)
    assert drawn.words[0] == "sedan" and drawn.asked == 1 and len(drawn.words) == 16
    assert drawn.xy.shape == (16, 2)
    points = drawn.to_json()["points"]
    assert points[0]["asked"] and not points[1]["asked"]


def test_search_expand(indexed: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    args = [*indexed, "search", "sedan", "--mode", "lexical", "-k", "60", "--json"]
    _, plain, _ = _cli(capsys, *args)
    _, expanded, _ = _cli(capsys, *args, "--expand")
    plain_names = {Path(h["path"]).name for h in json.loads(plain)["hits"]}
    names = {Path(h["path"]).name for h in json.loads(expanded)["hits"]}
    assert NO_SEDAN not in plain_names and NO_SEDAN in names


def test_eval_word_vector_modes(indexed: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(f"query\trelevant\nsedan\t{NO_SEDAN}\n", encoding="utf-8")
    code, out, _ = _cli(
        capsys,
        *indexed,
        "eval",
        str(qrels),
        "--folder",
        str(tmp_path / "topics"),
        "--mode",
        "word2vec",
        "--mode",
        "glove",
        "--mode",
        "cbow",
        "--json",
    )
    assert code == 0
    assert set(json.loads(out)["modes"]) == {"word2vec", "glove", "cbow"}
