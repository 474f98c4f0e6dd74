"""The README's Python example runs as it is shown, with the real default models."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python section lost its example"
    return match.group(1)


def test_readme_python_example_runs(tmp_path: Path, real_env: dict[str, str]) -> None:
    # the example's paths are relative to the repository root: give it one of its own
    (tmp_path / "sample_corpus").symlink_to(REPO / "sample_corpus")
    (tmp_path / "tests").symlink_to(REPO / "tests")
    proc = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=tmp_path,
        env=real_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"added \d+ files, encoded \d+ vectors", lines[0])
    assert "자동차_구입_가이드.md" in lines[1]  # 승용차 finds the guide that says 자동차
    assert lines[-1].endswith("car.png")
    if not os.environ.get("SEMSEARCH_CATALOG"):  # else the catalog is on the test's server
        assert (tmp_path / "my-index" / "catalog.sqlite").is_file()
