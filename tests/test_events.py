"""Events: what people did with hits, kept in the catalog per user, erased on request.

In CATALOG_MODULES: the PostgreSQL pass runs these again on a shared catalog.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from searchengine import Index
from searchengine.config import Settings
from searchengine.errors import ConfigError


def _ids(index: Index) -> dict[str, int]:
    """file name -> catalog id, from a search that lists every document."""
    hits = index.search("car dog banana 자동차", k=10, spaces={"text"}, mode="lexical")
    return {Path(h.path).name: h.file_id for h in hits}


def test_events_survive_a_restart_per_user(fake_settings: Settings, encoders, corpus: Path) -> None:
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(corpus)
        ids = _ids(index)
        first = index.record("ana", ids["car.txt"], "open", "price of a car", rank=1)
        assert first is not None and first.user == "ana" and first.rank == 1
        index.record("ana", corpus / "dog.md", "copy")  # a path names the item too
        index.record("ben", ids["car.txt"], "folder", "car")
    with Index.open(settings=fake_settings, encoders=encoders) as index:  # a new process's view
        ana = index.events("ana")
        assert [(e.file_id, e.action, e.query) for e in ana] == [
            (ids["car.txt"], "open", "price of a car"),
            (ids["dog.md"], "copy", None),
        ]
        assert [e.user for e in index.events()] == ["ana", "ana", "ben"]
        assert index.forget("ana") == 2
        assert index.events("ana") == [] and len(index.events("ben")) == 1
        assert index.forget() == 1
        assert index.events() == []


def test_a_bad_event_is_refused_and_none_is_kept(index: Index) -> None:
    some_id = _ids(index)["car.txt"]
    with pytest.raises(ConfigError, match="unknown action"):
        index.record("ana", some_id, "like")
    with pytest.raises(ConfigError, match="no indexed item"):
        index.record("ana", 10**9)
    with pytest.raises(ConfigError, match="no indexed item"):
        index.record("ana", "/nowhere/at/all.txt")
    with pytest.raises(ConfigError, match="user"):
        index.record(" ", some_id)
    with pytest.raises(ConfigError, match="rank"):
        index.record("ana", some_id, rank=0)
    assert index.events() == []


def test_events_turned_off_record_nothing(index: Index) -> None:
    some_id = _ids(index)["car.txt"]
    off = Index.open(settings=replace(index.settings, events=False), encoders=index._given)
    with off:
        assert off.record("ana", some_id) is None
        assert off.events() == []


def test_an_items_events_go_with_it(index: Index, corpus: Path) -> None:
    ids = _ids(index)
    index.record("ana", ids["car.txt"])
    index.record("ana", ids["dog.md"])
    (corpus / "car.txt").unlink()
    index.add(corpus)
    assert [e.file_id for e in index.events()] == [ids["dog.md"]]


def test_forget_on_the_command_line(index: Index, capsys) -> None:
    from searchengine.cli.main import main

    some_id = _ids(index)["car.txt"]
    for user in ("ana", "ana", "ben"):
        index.record(user, some_id)
    base = ["--index", str(index.path)]
    assert main([*base, "forget", "--user", "ana", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"user": "ana", "erased": 2}
    assert main([*base, "forget", "--all"]) == 0
    assert capsys.readouterr().out.strip() == "erased 1 events of every user"
    assert index.events() == []
    assert main([*base, "forget", "--user", ""]) == 2
    assert "--user needs a name" in capsys.readouterr().err
