"""Find the indexable files under a folder."""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from searchengine.files import extension, kind_of, path_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundFile:
    """A file the walk found, with the stat that change detection compares."""

    path: str  # absolute, the name on disk
    kind: str  # "text" | "image"
    ext: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        """The file's identity: its path in Unicode NFC form (macOS writes NFD names)."""
        return path_key(self.path)


@dataclass(frozen=True)
class WalkProblem:
    """A place the walk could not read, and why; the path is safe to print."""

    path: str
    reason: str


BAD_NAME = "its name is not valid UTF-8 (rename it to index it)"


def walk(
    root: Path,
    *,
    include_hidden: bool = False,
    exclude: tuple[str, ...] = (),
    start: Path | None = None,
) -> Iterator[FoundFile | WalkProblem]:
    """Yield supported files below `root`, and the places that could not be read.

    Symlinked folders are not followed, so links cannot loop; symlinked files
    are indexed under their own path, and a link that loops is reported. Names
    that are not valid UTF-8 (possible on Linux) cannot be stored and are
    reported too. `start`, a folder below `root`, walks only that part, under
    `root`'s ignore file (see `walk_paths`).
    """
    problems: list[WalkProblem] = []
    exclude = exclude + read_ignore_file(root)

    def on_error(err: OSError) -> None:
        where = printable(str(err.filename))
        problems.append(WalkProblem(where, f"cannot list folder: {err.strerror}"))

    top = start if start is not None else root
    for dirpath, dirnames, filenames in os.walk(top, onerror=on_error, followlinks=False):
        kept = []
        for d in sorted(dirnames):
            if not (include_hidden or not d.startswith(".")):
                continue
            if not _valid_name(d):
                problems.append(WalkProblem(printable(os.path.join(dirpath, d)), BAD_NAME))
            elif not _excluded(os.path.join(dirpath, d), d, exclude):
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not include_hidden and name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            if _excluded(path, name, exclude):
                continue
            kind = kind_of(name)
            if kind is None:
                continue
            if not _valid_name(name):
                yield WalkProblem(printable(path), BAD_NAME)
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                yield WalkProblem(path, f"cannot stat: {exc.strerror}")
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            yield FoundFile(path, kind, extension(name), st.st_size, st.st_mtime_ns)
        yield from problems
        problems.clear()
    yield from problems  # a folder that could not be listed last


def walk_paths(
    root: Path,
    paths: Iterable[Path],
    *,
    include_hidden: bool = False,
    exclude: tuple[str, ...] = (),
) -> Iterator[FoundFile | WalkProblem]:
    """What `walk(root)` would yield at these places below `root` only: each a file, a
    folder (walked) or a name that no longer exists (nothing). A watcher's events name
    them; the rules are the full walk's, so both runs agree on what is indexed."""
    patterns = exclude + read_ignore_file(root)
    for path in sorted(set(paths)):
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            continue  # not below root
        if not parts:
            yield from walk(root, include_hidden=include_hidden, exclude=exclude)
            continue
        place, allowed = root, True
        for name in parts:  # every folder on the way, and the name itself, as walk sees them
            place = place / name
            if (not include_hidden and name.startswith(".")) or _excluded(
                str(place), name, patterns
            ):
                allowed = False
                break
        if not allowed:
            continue
        if not _valid_name(str(path)):
            yield WalkProblem(printable(str(path)), BAD_NAME)
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue  # gone again: the catalog's entry, if any, is removed
        if stat.S_ISDIR(st.st_mode):
            yield from walk(root, include_hidden=include_hidden, exclude=exclude, start=path)
            continue
        kind = kind_of(path.name)
        if kind is None:
            continue
        try:
            st = os.stat(path)  # a symlinked file is indexed under its own name, as by walk
        except OSError as exc:
            yield WalkProblem(str(path), f"cannot stat: {exc.strerror}")
            continue
        if stat.S_ISREG(st.st_mode):
            yield FoundFile(str(path), kind, extension(path.name), st.st_size, st.st_mtime_ns)


IGNORE_FILE = ".semsearchignore"


def read_ignore_file(root: Path) -> tuple[str, ...]:
    """Glob patterns from `root/.semsearchignore`, one a line, `#` for comments."""
    try:
        lines = (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ()
    patterns = (line.strip() for line in lines)
    return tuple(p for p in patterns if p and not p.startswith("#"))


def _valid_name(name: str) -> bool:
    # os.walk hands undecodable bytes back as lone surrogates, which SQLite,
    # JSON and the terminal all refuse
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: str) -> str:
    """A path that can be printed and stored whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _excluded(path: str, name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)
