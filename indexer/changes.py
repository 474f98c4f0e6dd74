"""Decide what changed since the last run: size+mtime first, then content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from searchengine.catalog import FileState

from .walk import FoundFile

HASH_BLOCK = 1 << 20


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


@dataclass
class ChangePlan:
    """What a run must do; each list holds (found file, content hash[, old state])."""

    added: list[tuple[FoundFile, str]] = field(default_factory=list)
    updated: list[tuple[FoundFile, str, FileState]] = field(default_factory=list)
    moved: list[tuple[FoundFile, FileState]] = field(default_factory=list)
    touched: list[tuple[FoundFile, FileState]] = field(default_factory=list)
    removed: list[FileState] = field(default_factory=list)
    unchanged: int = 0
    still_skipped: list[FileState] = field(default_factory=list)
    unreadable: list[tuple[FoundFile, str]] = field(default_factory=list)

    @property
    def to_encode(self) -> int:
        return len(self.added) + len(self.updated)


def plan_changes(
    found: list[FoundFile],
    known: dict[str, FileState],
    hasher: Callable[[str], str] = sha256_file,
    on_hashed: Callable[[], None] | None = None,
) -> ChangePlan:
    """Compare the walk with the catalog; hash only files whose stat changed."""
    plan = ChangePlan()
    seen: set[str] = set()
    fresh: list[tuple[FoundFile, str]] = []
    for f in found:
        seen.add(f.path)
        old = known.get(f.path)
        if old is not None and old.size == f.size and old.mtime_ns == f.mtime_ns:
            if old.skip_reason:
                plan.still_skipped.append(old)
            else:
                plan.unchanged += 1
            continue
        try:
            digest = hasher(f.path)
        except OSError as exc:
            plan.unreadable.append((f, f"cannot read: {exc.strerror or exc}"))
            continue
        finally:
            if on_hashed:
                on_hashed()
        if old is None:
            fresh.append((f, digest))
        elif old.sha256 == digest and not old.skip_reason:
            plan.touched.append((f, old))
        else:
            plan.updated.append((f, digest, old))

    vanished: dict[str, list[FileState]] = {}
    for path, old in known.items():
        if path not in seen:
            vanished.setdefault(old.sha256, []).append(old)
    for f, digest in fresh:
        candidates = vanished.get(digest)
        if candidates and not candidates[0].skip_reason:
            plan.moved.append((f, candidates.pop(0)))
        else:
            plan.added.append((f, digest))
    plan.removed = [old for group in vanished.values() for old in group]
    return plan
