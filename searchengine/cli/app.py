"""What every command shares: settings from the flags, output, progress bars, exit codes."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from searchengine.api import Index
from searchengine.config import Settings
from searchengine.errors import (
    CatalogError,
    ConfigError,
    IndexCorruptError,
    LockedError,
    ModelMismatchError,
    ModelUnavailableError,
    NoIndexError,
    SearchEngineError,
    VocabularyError,
)

# The CLI's vocabulary for the library's errors: the first class that matches wins.
EXIT_CODES: tuple[tuple[type[SearchEngineError], int], ...] = (
    (LockedError, 5),
    (CatalogError, 4),
    (IndexCorruptError, 4),
    (ModelUnavailableError, 3),
    (ConfigError, 2),
    (VocabularyError, 6),
    (SearchEngineError, 1),
)
INTERRUPTED_EXIT = 130


def exit_code(exc: SearchEngineError) -> int:
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def message(exc: SearchEngineError, args: argparse.Namespace) -> str:
    """The error's message, with the flag or command that would help, on the command line."""
    text = str(exc)
    if isinstance(exc, LockedError) and not getattr(args, "wait", 0):
        text += " (or pass --wait)"
    elif isinstance(exc, NoIndexError):
        text += " (run `semsearch index FOLDER` first)"
    elif isinstance(exc, ModelMismatchError):
        text += " (pick another folder with --index)"
    elif isinstance(exc, ConfigError) and exc.parameter and text.startswith(exc.parameter):
        text = "--" + exc.parameter.replace("_", "-") + text[len(exc.parameter) :]
    return text


def usage(text: str) -> ConfigError:
    return ConfigError(text)


class App:
    """What a command needs: settings, output mode, and the progress drawing."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.json: bool = args.json
        settings = Settings()
        if args.index:
            settings = replace(settings, index_dir=Path(args.index).expanduser())
        if getattr(args, "catalog", None):
            settings = replace(settings, catalog=args.catalog)
        for name in ("text_model", "image_model"):
            value = getattr(args, name, None)
            if value:
                settings = replace(settings, **{name: value})
        wait = getattr(args, "wait", None)
        if wait is not None:
            settings = replace(settings, lock_wait_s=wait)
        self.settings = settings
        self._bars: dict[str, Any] = {}

    def open_index(self, settings: Settings | None = None) -> Index:
        return Index.open(settings=settings or self.settings, on_status=self.status_line)

    def emit(self, obj: dict[str, Any], human: Callable[[], None]) -> None:
        """Print `obj` as JSON with --json, else run the human printer."""
        if self.json:
            json.dump(obj, sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
        else:
            human()

    def progress(self, phase: str, done: int, total: int | None) -> None:
        """Draw one bar per phase on stderr (only on a terminal)."""
        from tqdm import tqdm

        bar = self._bars.get(phase)
        if bar is None:
            if "scan" in self._bars:  # scanning is over once any later phase starts
                self._bars.pop("scan").close()
            bar = tqdm(
                desc=f"{phase:8}",
                total=total,
                unit="item",
                file=sys.stderr,
                disable=None,
                leave=True,
                dynamic_ncols=True,
            )
            self._bars[phase] = bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close_bars(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def status_line(self, text: str) -> None:
        print(f"semsearch: {text}", file=sys.stderr)

    def show_path(self, path: str) -> str:
        rel = os.path.relpath(path)
        shown = path if rel.startswith("..") else rel
        # a newline or escape in a file name must not break or recolour the output
        return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in shown)

    @contextmanager
    def stoppable(self) -> Iterator[Callable[[], bool]]:
        """A should_stop callable, set by the first Ctrl-C; a second Ctrl-C aborts at once."""
        stop = threading.Event()
        if threading.current_thread() is not threading.main_thread():
            yield stop.is_set
            return

        def on_interrupt(signum: int, frame: object) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()
            self.close_bars()
            self.status_line("stopping after the current batch (Ctrl-C again to stop at once)")

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            yield stop.is_set
        finally:
            signal.signal(signal.SIGINT, previous)


def wait_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=math.inf,
        default=0.0,
        metavar="SECONDS",
        help="if another process is writing the index, wait for it (for SECONDS, or as long "
        "as it takes) instead of stopping at once",
    )
