"""Decide what changed since the last run: size+mtime first, then content hash.

Files are matched by their path key (Unicode NFC), so a name that only changed
its normal form, as on a copy from macOS, is a rename and keeps its vectors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from searchengine.catalog import FileState
from searchengine.errors import FileChangedError

from .walk import FoundFile

HASH_BLOCK = 1 << 20


class StopRequested(Exception):
    """The run was asked to stop before it changed anything."""


def sha256_file(f: FoundFile) -> str:
    """The content hash of a found file; raises FileChangedError if it changed meanwhile."""
    h = hashlib.sha256()
    read = 0
    with open(f.path, "rb") as fh:
        # never read past what the walk saw: a file that keeps growing is retried
        while block := fh.read(min(HASH_BLOCK, f.size + 1 - read)):
            read += len(block)
            if read > f.size:
                break
            h.update(block)
        st = os.fstat(fh.fileno())
    if read != f.size or (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
        raise FileChangedError("changed while being read; the next run indexes it")
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
    unreadable: list[tuple[FoundFile, str]] = field(default_factory=list)  # not remembered
    too_large: list[FoundFile] = field(default_factory=list)  # remembered as skipped


def plan_changes(
    found: list[FoundFile],
    known: dict[str, FileState],
    hasher: Callable[[FoundFile], str] = sha256_file,
    on_hashed: Callable[[], None] | None = None,
    *,
    max_bytes: int | None = None,
    skip_limits: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ChangePlan:
    """Compare the walk with the catalog (keyed by path key); hash only files whose stat changed.

    `skip_limits` names the reading limits of this run (see ReadLimits.signature).
    Raises StopRequested if `should_stop` says so: a partial plan would take
    the files not yet looked at for deleted ones.
    """
    plan = ChangePlan()
    chosen = _one_per_key(found, known, plan)
    fresh: list[tuple[FoundFile, str]] = []
    for f in chosen.values():
        if should_stop is not None and should_stop():
            raise StopRequested
        old = known.get(f.key)
        # a file skipped, or a picture read without OCR, under other reading limits than
        # today's is read again
        retry = old is not None and old.skip_limits not in (None, skip_limits)
        if old is not None and old.size == f.size and old.mtime_ns == f.mtime_ns:
            if not retry:
                if old.path != f.path:
                    plan.moved.append((f, old))  # only the Unicode form of its name changed
                elif old.skip_reason:
                    plan.still_skipped.append(old)
                else:
                    plan.unchanged += 1
                continue
        if max_bytes is not None and f.size > max_bytes:
            plan.too_large.append(f)
            continue
        try:
            digest = hasher(f)
        except FileNotFoundError:
            plan.unreadable.append((f, "disappeared before it could be read"))
            continue
        except FileChangedError as exc:
            plan.unreadable.append((f, str(exc)))
            continue
        except OSError as exc:
            plan.unreadable.append((f, f"cannot read: {exc.strerror or exc}"))
            continue
        finally:
            if on_hashed:
                on_hashed()
        if old is None:
            fresh.append((f, digest))
        elif old.sha256 == digest and not old.skip_reason and not retry:
            plan.touched.append((f, old))
        else:
            plan.updated.append((f, digest, old))

    vanished: dict[str, list[FileState]] = {}
    for key, old in known.items():
        if key not in chosen:
            vanished.setdefault(old.sha256, []).append(old)
    for f, digest in fresh:
        candidates = vanished.get(digest)
        if candidates and not candidates[0].skip_reason:
            plan.moved.append((f, candidates.pop(0)))
        else:
            plan.added.append((f, digest))
    plan.removed = [old for group in vanished.values() for old in group]
    return plan


def _one_per_key(
    found: list[FoundFile], known: dict[str, FileState], plan: ChangePlan
) -> dict[str, FoundFile]:
    """One file per path key; two names that differ only in Unicode form are one file.

    Linux lets both exist side by side. The one the catalog already knows wins,
    else the first; the other is reported, never indexed as a second copy.
    """
    chosen: dict[str, FoundFile] = {}
    for f in found:
        other = chosen.get(f.key)
        if other is None:
            chosen[f.key] = f
            continue
        old = known.get(f.key)
        keep, drop = (f, other) if old is not None and old.path == f.path else (other, f)
        chosen[f.key] = keep
        plan.unreadable.append(
            (drop, f"same name as {keep.path} in another Unicode form (NFC/NFD); not indexed twice")
        )
    return chosen
