"""The layout shows the data flow: imports go one way, without cycles, and no module
reaches into another's private names. (How long a module is, is a review question: a
module is as long as its one idea.)

Every import counts, at module level or inside a function: a function-level
import is still a dependency, and hiding a cycle in one is how cycles start.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# names with a leading underscore that are public API of the libraries that define them
PUBLIC_UNDERSCORED = {"_mapping", "_asdict", "_replace", "_fields"}  # SQLAlchemy Row, namedtuple

# Lower layers never import higher ones; a layer may import itself and anything below.
LAYERS: list[tuple[str, ...]] = [
    ("searchengine.config", "searchengine.errors", "searchengine.records"),
    ("searchengine.files", "searchengine.filters"),
    ("searchengine.catalog",),  # stores the terms it is given: it analyses no language
    ("searchengine.lexical", "searchengine.korean"),
    ("searchengine.store",),
    ("searchengine.models",),
    ("searchengine.query", "searchengine.explore", "searchengine.vocab", "searchengine.learn"),
    ("indexer",),
    ("searchengine.api", "searchengine.reports"),
    ("searchengine.cli", "searchengine.__main__", "searchengine.server"),
]


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in ("searchengine", "indexer"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _layer(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def _imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    """The project's modules `path` imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            subs = [f"{base}.{a.name}" for a in node.names]
            # `from pkg import module` depends on the module; `from pkg import name`, on pkg
            names = subs if all(x in known for x in subs) else [base, *subs]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [m for m in _modules() if m != "searchengine" and _layer(m) is None]
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"


def test_imports_go_one_way() -> None:
    known = _modules()
    wrong = []
    for module, path in known.items():
        rank = _layer(module)
        if rank is None:
            continue
        for target in _imports(path, module, known):
            target_rank = _layer(target)
            if target_rank is not None and target_rank > rank:
                wrong.append(f"{module} imports {target} (a higher layer)")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    known = _modules()
    graph = {m: _imports(p, m, known) - {"searchengine"} for m, p in known.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def test_no_module_uses_another_modules_private_names() -> None:
    """`from x import _name`, or `obj._name` on anything but self/cls: a module's private
    names are its own, so that it can change them without breaking another."""
    offenders = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                offenders += [
                    f"{module}:{node.lineno} imports {a.name} from {node.module}"
                    for a in node.names
                    if _private(a.name)
                ]
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    offenders.append(f"{module}:{node.lineno} uses {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


def test_the_library_never_prints_or_exits() -> None:
    offenders = []
    for module, path in _modules().items():
        if module.startswith("searchengine.cli") or module == "searchengine.__main__":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in {"print", "exit"}:
                    offenders.append(f"{module}:{node.lineno} {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr == "exit":
                if isinstance(node.value, ast.Name) and node.value.id == "sys":
                    offenders.append(f"{module}:{node.lineno} sys.exit")
    assert not offenders, offenders
