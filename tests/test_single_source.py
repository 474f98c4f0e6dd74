"""Each fact is defined once: the supported formats, a path's identity, the IN (...) batch.

The source checks read the code with `ast`, so a second copy of a fact (an
extension list, an NFC normalisation of a path, a batch size) fails here
rather than drifting apart from the first one later.
"""

from __future__ import annotations

import ast
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from indexer.changes import ChangePlan
from indexer.walk import FoundFile, walk
from searchengine.catalog import Catalog, NewItem, as_stored
from searchengine.catalog.rows import IN_BATCH
from searchengine.files import (
    FORMATS,
    IMAGE_EXTENSIONS,
    TEXT_EXTENSIONS,
    extension,
    format_of,
    kind_of,
    path_key,
)
from searchengine.filters import FILE_KINDS, make_filters
from searchengine.query.evaluate import read_qrels
from searchengine.records import Chunk
from searchengine.store.hnsw import HnswIndex

REPO = Path(__file__).resolve().parent.parent
HOME = "searchengine/files.py"  # where the formats and the path key live
NAME = "한글 메모.txt"


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for package in ("searchengine", "indexer"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"), rel)))
    return out


def test_no_module_but_the_formats_table_spells_an_extension() -> None:
    known = TEXT_EXTENSIONS | IMAGE_EXTENSIONS
    spelled = {
        (rel, node.value)
        for rel, tree in _modules()
        if rel != HOME
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known
    }
    assert spelled == set()


def test_no_module_but_the_path_key_normalises_a_path_to_nfc() -> None:
    calls = {
        rel
        for rel, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "normalize"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "NFC"
    }
    # lexical.py normalises words of a document, catalog/postgres.py stored terms, not paths
    assert calls == {HOME, "searchengine/lexical.py", "searchengine/catalog/postgres.py"}


def test_the_in_batch_size_is_defined_once() -> None:
    where = [
        rel
        for rel, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.lstrip("_") == "IN_BATCH"
    ]
    assert where == ["searchengine/catalog/rows.py"]


def test_vectors_for_reads_more_labels_than_one_in_batch(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite", durable=False)
    catalog.ensure_space("text", "m", "fp", 4)
    vecs = np.random.default_rng(0).normal(size=(IN_BATCH + 7, 4)).astype(np.float32)
    items = [
        NewItem(f"/c/{i}.txt", "text", 1, 1, str(i), "text", [Chunk("x", 0, 1)], v[None])
        for i, v in enumerate(vecs)
    ]
    labels = catalog.write_items(items, {"text": "fp"})[0]["text"]
    found, stored = catalog.vectors_for("text", [*labels, max(labels) + 1])
    catalog.close()
    assert found.tolist() == labels and np.array_equal(stored, as_stored(vecs))


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (Catalog, "space_generation"),
        (ChangePlan, "to_encode"),
        (HnswIndex, "reconcile"),
        ("indexer.extract", "extract_text"),
    ],
)
def test_code_only_tests_used_is_gone(owner: object, name: str) -> None:
    if isinstance(owner, str):
        import importlib

        owner = importlib.import_module(owner)
    assert not hasattr(owner, name)


def test_the_walk_indexes_every_kind_the_filters_offer(tmp_path: Path) -> None:
    for exts in FORMATS.values():
        for ext in exts:
            (tmp_path / f"a{ext.upper()}").write_bytes(b"x")
    (tmp_path / "skip.xyz").write_bytes(b"x")
    found = [f for f in walk(tmp_path) if isinstance(f, FoundFile)]
    assert sorted(f.ext for f in found) == sorted(TEXT_EXTENSIONS | IMAGE_EXTENSIONS)
    assert {format_of(f.path) for f in found} == set(FORMATS) == set(FILE_KINDS) - {"text", "image"}
    for f in found:
        assert f.kind == kind_of(f.path) == ("text" if f.ext in TEXT_EXTENSIONS else "image")
        assert make_filters(formats=[f.ext]).formats == (format_of(f.path),)


def test_every_module_keys_a_path_alike(tmp_path: Path) -> None:
    nfd, nfc = unicodedata.normalize("NFD", NAME), unicodedata.normalize("NFC", NAME)
    assert nfd != nfc and path_key(nfd) == nfc
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / nfd).write_text("memo", encoding="utf-8")
    (found,) = walk(tmp_path / "docs")
    assert isinstance(found, FoundFile) and found.key == os.path.join(str(tmp_path), "docs", nfc)
    filters = make_filters(folders=[str(tmp_path / "docs" / nfd)], globs=[nfd])
    assert filters.folders == (found.key,) and filters.glob_patterns() == ("*/" + nfc,)
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(f"query\trelevant\nmemo\t{nfd}\n", encoding="utf-8")
    assert read_qrels(qrels).relevant == {"memo": frozenset({found.key})}
    assert extension(nfd) == ".txt"


def test_a_path_twice_in_one_write_keeps_the_later_one(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite", durable=False)
    catalog.ensure_space("text", "m", "fp", 4)
    vecs = np.eye(4, dtype=np.float32)
    items = [
        NewItem("/c/a.txt", "text", 1, 1, "old", "text", [Chunk("x", 0, 1)], vecs[0:1]),
        NewItem("/c/b.txt", "text", 1, 1, "b", "text", [Chunk("y", 0, 1)], vecs[1:2]),
        NewItem("/c/a.txt", "text", 2, 2, "new", "text", [Chunk("z", 0, 1)], vecs[2:3]),
    ]
    added, removed = catalog.write_items(items, {"text": "fp"})
    state = catalog.file_by_path("/c/a.txt")
    catalog.close()
    assert len(added["text"]) == 3 and removed["text"] == [added["text"][0]]
    assert state is not None and state.sha256 == "new"


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject.toml lists packages by hand: a new folder missing from it installs as
    nothing (indexer.formats did, and the installed CLI failed on import)."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("searchengine", "indexer")
        for init in (REPO / top).rglob("__init__.py")
    }
    found |= {"searchengine.migrations", "searchengine.migrations.versions"}  # alembic/
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
