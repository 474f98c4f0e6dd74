"""Migrations freeze what they need: an old migration must do today what it did when
it was written, so none imports the application, whose code changes (an analyser, a
helper's signature). What a migration needs, its DDL above all, is copied into it.

Stable on purpose, and allowed: the standard library, SQLAlchemy, Alembic and NumPy
(0010 converts stored vectors to float16), whose behaviour a migration pins by
calling documented API. Work that depends on today's code (analysing chunks into
lexical terms) is left to the application: 0008 makes `chunk_terms` empty, and
opening the catalog writes the rows (store/folder.py).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

VERSIONS = Path(__file__).resolve().parents[1] / "alembic" / "versions"
ALLOWED = {"sqlalchemy", "alembic", "numpy", "__future__"}
PROJECT = {"searchengine", "indexer", "bench", "training"}


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." if node.level else (node.module or "").split(".")[0])
    return found


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.stem)
def test_a_migration_imports_no_application_code(path: Path) -> None:
    imported = _imported(path)
    assert not imported & (PROJECT | {"."}), f"{path.name} imports {imported & PROJECT}"
    unknown = imported - ALLOWED - set(sys.stdlib_module_names)
    assert not unknown, f"{path.name} imports {unknown}: freeze it into the migration"
