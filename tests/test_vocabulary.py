"""One vocabulary, one source: the command line's choices, the server's schema and
validation, and /api/meta (which the page reads) all come from the same tuples
(records.MODES, SORTS, SPACES; files.FORMAT_NAMES; filters.FILTER_NAMES), and the
old spellings (`--type`, `--kind`, `--under`; `type`, `kind`; `kinds=`, `under=`)
still work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from searchengine import Index, __version__
from searchengine.cli.main import build_parser
from searchengine.errors import ConfigError
from searchengine.files import FORMAT_NAMES, FORMATS
from searchengine.filters import FILE_KINDS, FILTER_NAMES, make_filters
from searchengine.records import MODES, SORTS, SPACES
from searchengine.server.app import create_app

BASE = "http://127.0.0.1:8000"


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if flag in a.option_strings)


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    # the vocabulary needs no index: nothing is indexed here
    with TestClient(create_app(Index.open(tmp_path / "idx")), base_url=BASE) as c:
        yield c


def test_the_command_line_offers_the_tuples() -> None:
    search = _subparser("search")
    assert tuple(_option(search, "--mode").choices or ()) == MODES
    assert tuple(_option(search, "--sort").choices or ()) == SORTS
    assert tuple(_option(search, "--space").choices or ()) == SPACES
    assert set(MODES) <= set(_option(_subparser("eval"), "--mode").choices or ())
    for command in ("search", "similar"):
        flags = {f for a in _subparser(command)._actions for f in a.option_strings}
        assert {f"--{name}" for name in FILTER_NAMES} <= flags, command


def test_the_server_schema_declares_the_tuples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert set(FILTER_NAMES) <= set(params)

    def enum(name: str) -> list[str]:
        schema = params[name]["schema"]
        for option in schema.get("anyOf", [schema]):
            if "enum" in option:
                return list(option["enum"])
            if "enum" in option.get("items", {}):
                return list(option["items"]["enum"])
        raise AssertionError(f"{name} declares no enum: {schema}")

    assert enum("mode") == list(MODES)
    assert enum("sort") == list(SORTS)
    assert enum("space") == list(SPACES)
    assert enum("format") == ["", *FORMAT_NAMES]
    assert enum("type") == list(SPACES) and enum("kind") == ["", *FILE_KINDS]
    assert params["type"]["schema"].get("deprecated") and params["kind"]["schema"].get("deprecated")
    assert spec["info"]["version"] == __version__


def test_meta_is_the_same_tuples(client: TestClient) -> None:
    meta = client.get("/api/meta").json()
    assert meta["version"] == __version__
    assert meta["modes"] == list(MODES) and meta["sorts"] == list(SORTS)
    assert meta["spaces"] == list(SPACES) and meta["filters"] == list(FILTER_NAMES)
    assert list(meta["formats"]) == list(FORMAT_NAMES)
    assert meta["formats"]["jpg"] == [e.lstrip(".") for e in FORMATS["jpg"]]


@pytest.mark.parametrize("value", ["PDF", "pdf,md", "jpeg", ",", " ", "exe"])
def test_the_server_refuses_a_format_it_does_not_declare(client: TestClient, value: str) -> None:
    res = client.get("/api/search", params={"q": "car", "format": value})
    assert res.status_code == 422, res.text
    assert res.json()["parameter"] == "format" and "pdf" in res.json()["error"]


def test_the_old_command_line_options_still_work() -> None:
    parser = build_parser()
    old = parser.parse_args(
        ["search", "car", "--type", "image", "--kind", "pdf", "--under", "/a", "--folder", "/b"]
    )
    new = parser.parse_args(
        ["search", "car", "--space", "image", "--format", "pdf", "--folder", "/a", "--folder", "/b"]
    )
    assert (old.space, old.format, sorted(old.folder)) == (new.space, new.format, new.folder)
    assert (
        "--type" not in parser.format_help() and "--under" not in _subparser("search").format_help()
    )


def test_the_old_library_keywords_still_work_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="folders= and formats="):
        old = make_filters(under=["/a"], kinds=["jpeg", "text"])
    assert old == make_filters(folders=["/a"], formats=["jpg", "text"])
    assert old.formats == ("jpg", "text")  # a whole space, as `--kind text` took


def test_an_unknown_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown space"):
        Index.open(tmp_path / "idx").search("car", spaces={"txt"})  # type: ignore[arg-type]


def test_the_map_and_word_vector_methods_come_from_their_modules(client: TestClient) -> None:
    from searchengine.explore.layout import METHODS as MAP_METHODS
    from searchengine.vocab.store import METHODS as WORD_METHODS

    assert tuple(_option(_subparser("map"), "--method").choices or ()) == MAP_METHODS
    spec = client.get("/openapi.json").json()["paths"]

    def values(path: str) -> list[str]:
        (param,) = [p for p in spec[path]["get"]["parameters"] if p["name"] == "method"]
        schema = param["schema"]
        return [v for s in schema.get("anyOf", [schema]) for v in s.get("enum", [s.get("const")])]

    assert values("/api/map") == ["auto", *MAP_METHODS]
    assert values("/api/related") == list(WORD_METHODS)
