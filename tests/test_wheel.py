"""A normal (non-editable) install works: the wheel carries the migrations, models and data.

The wheel is built from this checkout and installed into a fresh virtual
environment that reuses this one's third-party packages (torch is 6 GB; a
`.pth` line makes them importable without their `.pth` hooks, so the
editable install of this checkout stays invisible). Then the installed
`semsearch` indexes and searches `sample_corpus/` from another folder.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
# what a copy of the source leaves out: environments, caches, build and training outputs
NOT_SOURCE = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache"}
NOT_SOURCE |= {".ruff_cache", ".cache", ".semsearch-demo", "runs", "training"}


def _not_source(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in NOT_SOURCE or n.endswith(".egg-info")}


def _run(*cmd: str | Path, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=900, check=False, **kw
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds
    source = tmp_path_factory.mktemp("source") / "semsearch"
    shutil.copytree(REPO, source, ignore=_not_source, symlinks=True)
    proc = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--wheel-dir", out, source,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (found,) = out.glob("semsearch-*.whl")
    return found


def test_the_wheel_carries_what_a_catalog_and_the_models_need(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "searchengine/migrations/env.py" in names
    assert "searchengine/migrations/script.py.mako" in names
    assert "searchengine/migrations/versions/0001_initial.py" in names
    assert "searchengine/weights/semsearch-clip-visual.safetensors" in names
    assert "searchengine/weights/semsearch-clip-lite0-visual.safetensors" in names
    assert "searchengine/model_configs/semsearch-clip-lite0.json" in names
    assert "searchengine/data/imagenet_classes.tsv" in names
    assert "searchengine/data/background.txt" in names
    assert not any(n.startswith(("tests/", "bench/", "alembic/")) for n in names)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("fresh-venv")
    proc = _run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert proc.returncode == 0, proc.stderr
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    purelib.mkdir(parents=True, exist_ok=True)
    # this environment's packages (torch, transformers, ...), but not its .pth hooks
    (purelib / "reuse_test_env.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    python = venv / "bin" / "python"
    proc = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        wheel,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def test_installed_package_indexes_and_searches(
    installed: Path, tmp_path: Path, real_env: dict[str, str]
) -> None:
    env = {k: v for k, v in real_env.items() if k != "PYTHONPATH"}
    where = _run(
        installed / "bin" / "python", "-c", "import searchengine; print(searchengine.__file__)",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert str(installed) in where.stdout, "the test must run the installed copy"
    semsearch = installed / "bin" / "semsearch"
    index = tmp_path / "index"
    proc = _run(
        semsearch, "--index", index, "index", REPO / "sample_corpus", "--json",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] >= 20
    proc = _run(semsearch, "--index", index, "search", "승용차", "-k", "3", "--json",
                cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["hits"]
    assert any("자동차" in os.path.basename(h["path"]) for h in hits)
