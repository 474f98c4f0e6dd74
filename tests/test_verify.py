"""`verify` reports every kind of inconsistency and exits non-zero; `repair` fixes them all."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeImageEncoder, FakeTextEncoder
from helpers import make_corpus, open_catalog, paths, run_index, search

from searchengine import Encoders, Index
from searchengine.catalog import Catalog, NewItem
from searchengine.catalog.rows import vector_blob
from searchengine.cli.main import main
from searchengine.config import Settings
from searchengine.records import Chunk, FileStamp
from searchengine.store import CATALOG_NAME
from searchengine.store.lock import WriterLock

# a SQLite catalog and its index files, indexed once and copied per test, then damaged
# by hand; a shared catalog's verify (index files as caches) is in test_postgres.py
pytestmark = pytest.mark.sqlite_only("damage done to a copied SQLite index folder")


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _verify(settings, sources: bool = True):
    return Index.open(settings=settings).verify(check_sources=sources)


def _kinds(settings) -> set[str]:
    return {p.kind for p in _verify(settings).problems}


@contextmanager
def _catalog(settings) -> Iterator[Catalog]:
    catalog = open_catalog(settings.index_dir)
    try:
        yield catalog
    finally:
        catalog.close()


def _sql(settings, statement: str) -> None:
    with sqlite3.connect(settings.index_dir / CATALOG_NAME) as conn:
        conn.execute(statement)


FAKES = Encoders(text=FakeTextEncoder(), image=FakeImageEncoder())


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One indexed corpus per module; each test gets a copy at the same place."""
    base = tmp_path_factory.mktemp("verify")
    make_corpus(base / "docs-template")
    shutil.copytree(base / "docs-template", base / "docs")
    # vectors of 8 tokens: the longer documents' chunks are read by a vector per piece
    settings = Settings(
        index_dir=base / "index-template", model_cache=base / "models", vector_tokens=8
    )
    run_index(base / "docs", settings, FAKES)
    return base


@pytest.fixture
def settings(fake_settings) -> Settings:
    """The index of these tests is made with the fake encoders, `FAKES`."""
    return fake_settings


@pytest.fixture
def indexed(template: Path, settings) -> Path:
    corpus = template / "docs"  # the catalog names files here: restore them in place
    shutil.rmtree(corpus)
    shutil.copytree(template / "docs-template", corpus)
    shutil.copytree(template / "index-template", settings.index_dir)
    return corpus


def test_a_fresh_index_is_clean_and_says_so(indexed, settings, capsys) -> None:
    with sqlite3.connect(settings.index_dir / CATALOG_NAME) as conn:
        (pieces,) = conn.execute("SELECT count(*) FROM vectors WHERE piece_start >= 0").fetchone()
    assert pieces >= 4  # car.txt's and dog.md's chunks are read in pieces
    assert _verify(settings).clean
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "verify")
    assert code == 0 and "verify: clean" in out
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "verify", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["clean"] is True and doc["problems"] == []
    assert any("text.hnsw" in note for note in doc["notes"])


def _labels_without_rows(corpus, settings) -> None:
    # the catalog forgot a file but the index file was not told
    with _catalog(settings) as catalog:
        catalog.remove_files([str(corpus / "car.txt")])


def _rows_without_labels(corpus, settings) -> None:
    catalog = open_catalog(settings.index_dir, create=True)
    space = catalog.space("text")
    vec = np.ones((1, space.dim), np.float32) / np.sqrt(space.dim)
    (corpus / "extra.txt").write_text("extra")
    item = NewItem(
        str(corpus / "extra.txt"), "text", 5, 1, "e", "text", [Chunk("extra", 0, 5)], vec
    )
    catalog.write_items([item], {"text": space.fingerprint})


def _wrong_counts(corpus, settings) -> None:
    with _catalog(settings) as catalog:
        space = catalog.space("text")
        catalog.record_index_save("text", space.index_generation, FileStamp(99, 0, 123))


def _wrong_model(corpus, settings) -> None:
    _sql(
        settings,
        "UPDATE vectors SET fingerprint = 'other-model' WHERE id = (SELECT min(id) FROM vectors)",
    )


def _other_vectors(corpus, settings) -> None:
    # same label, same model, other numbers: the index file holds what the catalog does not
    with _catalog(settings) as catalog:
        labels = catalog.live_labels("text")
        _, vecs = catalog.vectors_for("text", [int(labels[0])])
    data = vector_blob(-vecs[0])
    with sqlite3.connect(settings.index_dir / CATALOG_NAME) as conn:
        conn.execute("UPDATE vectors SET data = ? WHERE id = ?", (data, int(labels[0])))


def _missing_source(corpus, settings) -> None:
    (corpus / "dog.md").unlink()


def _index_missing(corpus, settings) -> None:
    (settings.index_dir / "image.hnsw").unlink()


def _index_unreadable(corpus, settings) -> None:
    path = settings.index_dir / "text.hnsw"
    path.write_bytes(path.read_bytes()[:300])


def _leftovers(corpus, settings) -> None:
    (settings.index_dir / ".text.hnsw.4242.tmp").write_bytes(b"half a file")
    (settings.index_dir / "old.hnsw").write_bytes(b"from another day")


def _files_without_vectors(corpus, settings) -> None:
    _sql(
        settings,
        "DELETE FROM vectors WHERE file_id = (SELECT id FROM files WHERE path LIKE '%red.png')",
    )


def _orphan_chunks(corpus, settings) -> None:
    _sql(
        settings,
        "INSERT INTO chunks (file_id, ordinal, page, start, end, text) "
        "VALUES ((SELECT min(id) FROM files), 9, NULL, 0, 3, 'odd')",
    )


def _pieces_broken(corpus, settings) -> None:
    # the first piece of car.txt's chunk ends after one character: its words go unread
    _sql(
        settings,
        "UPDATE vectors SET piece_end = piece_start + 1 WHERE id = (SELECT min(v.id) "
        "FROM vectors v JOIN files f ON f.id = v.file_id WHERE f.path LIKE '%car.txt')",
    )


def _lexical_missing(corpus, settings) -> None:
    _sql(settings, "DELETE FROM chunk_terms WHERE rowid IN (SELECT id FROM chunks)")


def _lexical_stray(corpus, settings) -> None:
    _sql(settings, "INSERT INTO chunk_terms (rowid, terms) VALUES (987654, 'ghost')")


DAMAGE = {
    "labels-without-rows": _labels_without_rows,
    "rows-without-labels": _rows_without_labels,
    "wrong-counts": _wrong_counts,
    "wrong-model": _wrong_model,
    "other-vectors": _other_vectors,
    "missing-source": _missing_source,
    "index-missing": _index_missing,
    "index-unreadable": _index_unreadable,
    "leftover-file": _leftovers,
    "files-without-vectors": _files_without_vectors,
    "orphan-chunks": _orphan_chunks,
    "pieces-broken": _pieces_broken,
    "lexical-missing": _lexical_missing,
    "lexical-stray": _lexical_stray,
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_inconsistency_is_reported_then_repaired(indexed, settings, kind: str, capsys):
    DAMAGE[kind](indexed, settings)
    found = _kinds(settings)
    assert kind in found, found
    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "verify")
    assert code == 1 and "problem:" in out and "semsearch repair" in out

    code, out, _ = _cli(capsys, "--index", str(settings.index_dir), "repair", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verify"]["clean"], doc
    assert _verify(settings).clean
    code, _, _ = _cli(capsys, "--index", str(settings.index_dir), "verify")
    assert code == 0
    # and the index still answers, with the same file as before where it survived
    query = (indexed / "korean.txt").read_text()
    assert paths(search(settings, query, spaces={"text"}, encoders=FAKES))[0] == "korean.txt"
    with Index.open(settings=settings, encoders=FAKES) as index:
        hits = index.search("자동차를", k=3, mode="lexical")
    assert paths(hits) == ["korean.txt"]


def test_repair_drops_what_the_catalog_cannot_vouch_for_and_the_next_run_restores_it(
    indexed, settings
) -> None:
    _wrong_model(indexed, settings)
    _files_without_vectors(indexed, settings)
    done = Index.open(settings=settings).repair().done
    assert any("another model" in line for line in done)
    assert any("had no vectors" in line for line in done)
    summary = run_index(indexed, settings, FAKES)
    assert summary.added == 2 and summary.encoded == 2  # read and encoded afresh
    assert _verify(settings).clean


def test_a_model_switch_under_way_is_a_note_not_a_problem(indexed, settings) -> None:
    with _catalog(settings) as catalog:
        catalog.ensure_space("text.next", "other", "fp-other", 8)
    report = _verify(settings)
    assert report.clean and any("switch" in note for note in report.notes)


def test_verify_waits_for_or_refuses_a_writer(indexed, settings, capsys) -> None:
    holder = WriterLock(settings.index_dir, "indexing")
    holder.acquire()
    try:
        code, _, err = _cli(capsys, "--index", str(settings.index_dir), "verify")
    finally:
        holder.release()
    assert code == 5 and "being written by" in err


def test_verify_can_skip_the_source_check(indexed, settings, capsys) -> None:
    shutil.rmtree(indexed / "sub")
    assert "missing-source" in _kinds(settings)
    assert _verify(settings, sources=False).clean
    code, _, _ = _cli(capsys, "--index", str(settings.index_dir), "verify", "--no-sources")
    assert code == 0
