"""The rebuilt model folder's completion marker, and the file helpers that fill it.

A rebuild writes its files, then ``semsearch-rebuild.json`` last: the recipe,
where the source came from, and the size and sha256 of every file. A folder
without that marker, or with a file of another size, is not complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MARKER_NAME = "semsearch-rebuild.json"


def is_complete(folder: Path, *, verify_hashes: bool = False) -> bool:
    """True when `folder` holds a finished rebuild whose files are all intact.

    Every file named in the marker must exist with the recorded size (cheap
    enough for every load); `verify_hashes` also recomputes their sha256.
    """
    marker = read_marker(folder)
    if marker is None:
        return False
    files = marker.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files:
        return False
    for name, record in files.items():
        path = Path(folder) / name
        try:
            if path.stat().st_size != record["size"]:
                return False
            if verify_hashes and _sha256(path) != record["sha256"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The completion marker of a rebuilt folder, or None if absent or unreadable."""
    try:
        marker = json.loads((Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_json(path: Path, obj: Any) -> None:
    path.write_text(
        json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def plain_file_mode(folder: Path) -> int:
    """The mode open() gave config.json, i.e. 0o666 less the umask."""
    return (folder / "config.json").stat().st_mode & 0o666


def match_umask(dest: Path, files: Iterable[str]) -> None:
    """Give every written file the mode a plain write would (some writers use 0600)."""
    mode = plain_file_mode(dest)
    for name in files:
        os.chmod(dest / name, mode)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """The marker's entry for one written file: its size and sha256."""
    return {"size": path.stat().st_size, "sha256": _sha256(path)}
