"""The catalog on a real PostgreSQL server: many writers, searchers on other "machines"
(other index folders), database locks, and the lexical index as tsvectors.

The rest of the suite runs on PostgreSQL too (`make test`: the catalog matrix in
conftest.py); these tests are about what only a shared catalog does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import draw_image, paths

from searchengine import Index
from searchengine.catalog import Catalog
from searchengine.catalog.postgres import folder_keys, tsquery_text, tsvector_text
from searchengine.catalog.search import glob_regex
from searchengine.config import Settings
from searchengine.errors import LockedError
from searchengine.lexical import index_text, match_expression
from searchengine.store import Store

REPO = Path(__file__).resolve().parents[1]
# each test makes its own PostgreSQL catalogs (and SQLite ones to compare): run once,
# in the SQLite pass of the matrix
pytestmark = pytest.mark.sqlite_only("these tests set up their own PostgreSQL catalogs")


def _write_folder(root: Path, topic: str, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"{topic}_{i:03d}.txt").write_text(
            f"{topic} note {i}: the {topic} report talks about {topic} number {i}.\n",
            encoding="utf-8",
        )
    return root


def _cli(settings: Settings, url: str, index_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SEMSEARCH_HOME": str(settings.model_cache)}
    env.pop("SEMSEARCH_CATALOG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "searchengine", "--catalog", url, "--index", str(index_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def _index_args(settings: Settings, folder: Path) -> list[str]:
    return [
        "index",
        str(folder),
        "--text-model",
        str(settings.text_model),
        "--image-model",
        str(settings.image_model),
        "--json",
    ]


def test_terms_become_tsvectors_with_positions_and_queries_keep_phrases() -> None:
    assert tsvector_text("자동차 구입 자동차 café") == "'자동차':1,3 '구입':2 'cafe':4"
    assert tsvector_text("it's a\\b") == "'it''s':1 'a\\\\b':2"
    assert tsquery_text('"자동차" OR "os path join"') == "'자동차' | ('os' <-> 'path' <-> 'join')"
    assert tsquery_text(match_expression("승용차를 샀다") or "") != ""


def test_glob_patterns_become_anchored_regexes() -> None:
    import re

    cases = {
        "*.md": ["/a/b.md"],
        "/a/?.txt": ["/a/x.txt"],
        "/a/[ab]*": ["/a/apple", "/a/b"],
        "/a/[^ab]*": ["/a/cat"],
        "/a/(x)+.txt": ["/a/(x)+.txt"],
    }
    misses = {"*.md": ["/a/b.mdx"], "/a/?.txt": ["/a/xy.txt"], "/a/[^ab]*": ["/a/apple"]}
    for pattern, hits in cases.items():
        rx = re.compile(glob_regex(pattern))
        assert all(rx.match(h) for h in hits), pattern
        assert not any(rx.match(m) for m in misses.get(pattern, [])), pattern


def test_writers_lock_their_folders_not_the_catalog(pg_catalog: str, tmp_path: Path) -> None:
    a, b = tmp_path / "team" / "a", tmp_path / "team" / "b"
    for f in (a, b, a / "inner"):
        f.mkdir(parents=True)
    first = Store(tmp_path / "m1", writer=True, catalog=pg_catalog)
    try:
        first.claim_folder(a)
        other = Store(tmp_path / "m2", writer=True, catalog=pg_catalog)
        try:
            other.claim_folder(b)  # a disjoint folder: at the same time
        finally:
            other.close()
        for clash in (a, a / "inner", tmp_path / "team"):
            other = Store(tmp_path / "m3", writer=True, catalog=pg_catalog)
            try:
                with pytest.raises(LockedError, match=r"pid \d+ \(indexing, on "):
                    other.claim_folder(clash)
            finally:
                other.close()
        # an upkeep command wants the whole catalog, and waits for the writer
        with pytest.raises(LockedError, match="the catalog"):
            Store(tmp_path / "m4", writer=True, catalog=pg_catalog, purpose="repairing")
    finally:
        first.close()
    Store(tmp_path / "m4", writer=True, catalog=pg_catalog, purpose="repairing").close()


def test_folder_keys_cover_the_folders_above() -> None:
    assert folder_keys("/x/y") == [
        ("semsearch: folder /", False),
        ("semsearch: folder /x", False),
        ("semsearch: folder /x/y", True),
    ]


def test_two_writers_at_once_and_a_searcher_in_a_third_process_sees_both(
    pg_catalog: str, settings: Settings, tmp_path: Path
) -> None:
    cars = _write_folder(tmp_path / "share" / "cars", "car", 40)
    dogs = _write_folder(tmp_path / "share" / "dogs", "dog", 40)
    draw_image(dogs / "red.png", (220, 20, 20))
    # two machines: each its own index folder (caches), one catalog
    started = time.monotonic()
    writers = [
        _cli(settings, pg_catalog, tmp_path / "machine1", *_index_args(settings, cars)),
        _cli(settings, pg_catalog, tmp_path / "machine2", *_index_args(settings, dogs)),
    ]
    outs = [w.communicate(timeout=300) for w in writers]
    for w, (_, err) in zip(writers, outs, strict=True):
        assert w.returncode == 0, err
    assert json.loads(outs[0][0])["added"] == 40 and json.loads(outs[1][0])["added"] == 41
    assert time.monotonic() - started < 300
    searcher = _cli(
        settings,
        pg_catalog,
        tmp_path / "machine3",
        "search",
        "dog report",
        "-k",
        "100",
        "--text-model",
        str(settings.text_model),
        "--image-model",
        str(settings.image_model),
        "--json",
    )
    out, err = searcher.communicate(timeout=300)
    assert searcher.returncode == 0, err
    found = {Path(h["path"]).parent.name for h in json.loads(out)["hits"]}
    assert found == {"cars", "dogs"}
    catalog = Catalog(url=pg_catalog)
    try:
        counts = catalog.counts()
        assert counts["files"] == 81 and counts["files_image"] == 1
        assert not catalog.invalid_vectors() and not catalog.files_without_vectors()
    finally:
        catalog.close()
    # the searcher left this machine's cache of the index behind
    assert (tmp_path / "machine3" / "text.hnsw").exists()


def test_a_running_searcher_sees_what_another_machine_committed(
    pg_catalog: str, settings: Settings, tmp_path: Path
) -> None:
    cars = _write_folder(tmp_path / "cars", "car", 3)
    here = replace(settings, catalog=pg_catalog, index_dir=tmp_path / "here")
    with Index.open(settings=here) as idx:
        idx.add(cars)
    with Index.open(settings=replace(here, index_dir=tmp_path / "searcher")) as searcher:
        # dense: what the HNSW cache finds, so the cache itself must have caught up
        before = paths(searcher.search("car report", k=50, mode="dense"))
        assert len(before) == 3
        bananas = _write_folder(tmp_path / "bananas", "banana", 2)
        writer = _cli(settings, pg_catalog, tmp_path / "elsewhere", *_index_args(settings, bananas))
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        after = paths(searcher.search("banana report", k=50, mode="dense"))
        assert len(after) == 5 and any("banana_001" in p for p in after)
        # and a removal, committed elsewhere, leaves this searcher's results too
        (bananas / "banana_001.txt").unlink()
        writer = _cli(settings, pg_catalog, tmp_path / "elsewhere", *_index_args(settings, bananas))
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        gone = paths(searcher.search("banana report", k=50, mode="dense"))
        assert len(gone) == 4 and not any("banana_001" in p for p in gone)
        assert searcher.verify(check_sources=True).clean


def test_korean_words_match_on_postgres_as_on_sqlite(
    pg_catalog: str, fake_settings: Settings, encoders, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "car.txt").write_text("자동차를 구입하는 방법과 비용", encoding="utf-8")
    (docs / "dog.txt").write_text("강아지와 공원에서 산책했다", encoding="utf-8")
    (docs / "code.txt").write_text("call os.path.join before dpkg-divert", encoding="utf-8")
    ranked: dict[str, list[list[str]]] = {}
    for name, catalog in (("sqlite", None), ("postgres", pg_catalog)):
        s = replace(fake_settings, catalog=catalog, index_dir=tmp_path / name)
        with Index.open(settings=s, encoders=encoders) as idx:
            idx.add(docs)
            ranked[name] = [
                [Path(p).name for p in paths(idx.search(q, k=5, mode="lexical"))]
                for q in ("자동차", "강아지가 산책", "os.path.join", "path join")
            ]
    assert ranked["postgres"] == ranked["sqlite"]
    assert ranked["postgres"][:3] == [["car.txt"], ["dog.txt"], ["code.txt"]]


def test_two_processes_opening_a_new_catalog_at_once_migrate_it_once(
    pg_server, tmp_path: Path
) -> None:
    url = pg_server.create_database("fresh_for_migration")
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Catalog(url=url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    catalog = Catalog(url=url)
    assert catalog.counts()["files"] == 0
    catalog.close()
    assert index_text("자동차") == "자동차"


def test_a_laptop_index_moves_to_the_server_without_encoding_again(
    pg_catalog: str, fake_settings: Settings, encoders, corpus: Path, tmp_path: Path
) -> None:
    from searchengine.errors import CatalogError

    laptop = replace(fake_settings, catalog=None)
    queries = ("puppy", "자동차", "banana bread", "red")
    with Index.open(settings=laptop, encoders=encoders) as idx:
        idx.add(corpus)
        before = {
            m: [paths(idx.search(q, k=5, mode=m)) for q in queries] for m in ("dense", "lexical")
        }
        copied = idx.copy_catalog(pg_catalog)
        assert copied["files"] == 6 and copied["vectors"] >= 6 and copied["chunk_terms"] > 0
        with pytest.raises(CatalogError, match="not empty"):
            idx.copy_catalog(pg_catalog)
    server = replace(laptop, catalog=pg_catalog, index_dir=tmp_path / "server-cache")
    with Index.open(settings=server, encoders=encoders) as idx:
        after = {
            m: [paths(idx.search(q, k=5, mode=m)) for q in queries] for m in ("dense", "lexical")
        }
        assert after == before
        assert idx.verify().clean
        old = Catalog(url=pg_catalog)
        try:
            last = int(old.live_labels("text").max())
            (corpus / "new.txt").write_text("a brand new note about trains", encoding="utf-8")
            idx.add(corpus)
            assert int(old.live_labels("text").max()) > last  # the server's ids go on
        finally:
            old.close()


def test_a_catalog_url_that_is_none_or_unreachable_is_one_clear_line(tmp_path: Path, capsys):
    from searchengine.cli.main import main

    for url, says in (
        ("mysql://x@y/z", "is not a catalog URL semsearch can use"),
        ("garbage", "is not a catalog URL semsearch can use"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/x", "cannot read the catalog"),
    ):
        code = main(["--catalog", url, "--index", str(tmp_path / "i"), "status"])
        err = capsys.readouterr().err
        assert code != 0 and err.startswith("semsearch: error: ") and says in err
        assert "Traceback" not in err
