"""What a search may return: folders, name patterns, file formats, modified dates, and
the domain of a picture (photo, drawing, text).

Filters are applied inside each search (the catalog's SQL for lexical search,
the allowed labels for vector search), never to a finished top-k, so a
filtered query returns k hits whenever k matching items exist.

One vocabulary for every front end: a filter is `--NAME` on the command line and
the parameter NAME over HTTP for each name of FILTER_NAMES; in Python the
repeatable ones are plural keywords of `make_filters` (`folders`, `globs`,
`formats`). The older words still work: `--under`/`under` for folder,
`--kind`/`kind`/`kinds` for format (which also took `text` and `image`).
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from searchengine.errors import ConfigError
from searchengine.files import FORMAT_BY_EXTENSION, FORMAT_NAMES, FORMATS, path_key
from searchengine.records import SPACES

FILTER_NAMES = ("folder", "glob", "format", "after", "before", "domain")
# What a picture is (models/domain.py); documents have no domain, so this keeps images only.
DOMAINS = ("photo", "drawing", "text")
# What the old `kind` filter took: a space ("text", "image") as well as a format.
# `format` still takes them, quietly, so `--kind text` in a script keeps its meaning.
FILE_KINDS = (*SPACES, *FORMAT_NAMES)

_RELATIVE = re.compile(r"^(\d+)([dwmy])$")
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


@dataclass(frozen=True)
class Filters:
    """Each field narrows the results; several values within a field are alternatives."""

    folders: tuple[str, ...] = ()  # absolute NFC paths: a file, or a folder and all below it
    globs: tuple[str, ...] = ()  # shell patterns on the full path; without '/', on the name
    formats: tuple[str, ...] = ()  # names from FILE_KINDS: formats, or a whole space
    modified_after: float | None = None  # Unix seconds, inclusive
    modified_before: float | None = None  # Unix seconds, exclusive
    domains: tuple[str, ...] = ()  # names from DOMAINS: pictures of these domains only

    @property
    def active(self) -> bool:
        return bool(
            self.folders
            or self.globs
            or self.formats
            or self.modified_after is not None
            or self.modified_before is not None
            or self.domains
        )

    def extensions(self) -> tuple[str, ...]:
        """The extensions the named formats allow."""
        return tuple(e for f in self.formats if f in FORMATS for e in FORMATS[f])

    def glob_patterns(self) -> tuple[str, ...]:
        """Patterns for SQLite GLOB on the NFC path (where `*` also crosses '/')."""
        out = []
        for g in self.globs:
            g = path_key(g)
            if "/" not in g:
                out.append("*/" + g)  # a bare pattern names files, in any folder
            elif not g.startswith(("/", "*")):
                out.append("*/" + g)  # a relative one matches at any depth
            else:
                out.append(g)
        return tuple(out)


def make_filters(
    folders: Iterable[str] = (),
    globs: Iterable[str] = (),
    formats: Iterable[str] = (),
    after: str | None = None,
    before: str | None = None,
    *,
    domains: Iterable[str] = (),
    under: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
) -> Filters:
    """Filters from user input (command-line flags, HTTP parameters); bad values raise
    ConfigError naming the parameter (`format`, `after`, `before`).

    A format may be given by an extension (`jpeg`, `.htm`), in any case, several
    comma-separated. `under` and `kinds` are the old names of `folders` and `formats`."""
    if under is not None or kinds is not None:
        warnings.warn(
            "make_filters(under=, kinds=) are now folders= and formats=",
            DeprecationWarning,
            stacklevel=2,
        )
        folders = [*folders, *(under or ())]
        formats = [*formats, *(kinds or ())]
    roots = tuple(
        path_key(os.path.abspath(os.path.expanduser(p))).rstrip("/") or "/" for p in folders
    )
    wanted = []
    for value in formats:
        for name in value.lower().split(","):
            name = name.strip().lstrip(".")
            if name not in FILE_KINDS:  # an extension names its format: jpeg, tif, htm
                name = FORMAT_BY_EXTENSION.get("." + name, name)
            if not name:
                continue
            if name not in FILE_KINDS:
                raise ConfigError(
                    f"unknown format {name!r}: use one of {', '.join(FORMAT_NAMES)}",
                    parameter="format",
                )
            wanted.append(name)
    kept = []
    for value in domains:
        for name in value.lower().split(","):
            name = name.strip()
            if name and name not in DOMAINS:
                raise ConfigError(
                    f"unknown domain {name!r}: use one of {', '.join(DOMAINS)}",
                    parameter="domain",
                )
            if name:
                kept.append(name)
    lo = parse_when(after, "after") if after else None
    hi = parse_when(before, "before") if before else None
    if lo is not None and hi is not None and lo >= hi:
        raise ConfigError(
            f"after {after!r} is not earlier than before {before!r}", parameter="after"
        )
    return Filters(
        folders=roots,
        globs=tuple(g for g in globs if g),
        formats=tuple(dict.fromkeys(wanted)),
        modified_after=lo,
        modified_before=hi,
        domains=tuple(dict.fromkeys(kept)),
    )


def parse_when(value: str, name: str) -> float:
    """A moment from `2024-05-01`, `2024-05-01T13:00` (local time) or `7d`/`2w`/`3m`/`1y` ago."""
    value = value.strip()
    rel = _RELATIVE.match(value.lower())
    try:
        if rel:
            days = int(rel.group(1)) * _UNIT_DAYS[rel.group(2)]
            return time.time() - timedelta(days=days).total_seconds()
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):  # OverflowError: an age past timedelta's range
        raise ConfigError(
            f"{name} {value!r}: give a date like 2024-05-01 (local time) or an age like 7d, 2w, 3m",
            parameter=name,
        ) from None
    try:
        return moment.timestamp()
    except (ValueError, OverflowError):  # local time at the calendar's ends (years 1, 9999)
        return moment.replace(tzinfo=timezone.utc).timestamp()
