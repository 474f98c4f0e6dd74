"""The `semsearch` command line: the only place that prints or picks exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .config import Settings, data_home
from .errors import SearchEngineError

log = logging.getLogger("semsearch")

COMMANDS_GROUP = "semsearch.commands"  # other packages (the indexer) add subcommands here


class App:
    """What a command needs: settings, output mode, and the progress drawing."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.json: bool = args.json
        settings = Settings()
        if args.index:
            settings = replace(settings, index_dir=Path(args.index).expanduser())
        for field in ("text_model", "image_model"):
            value = getattr(args, field, None)
            if value:
                settings = replace(settings, **{field: value})
        self.settings = settings
        self._bars: dict[str, Any] = {}

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

    def status_line(self, message: str) -> None:
        print(f"semsearch: {message}", file=sys.stderr)

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


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--index",
        metavar="DIR",
        default=d,
        help=f"index folder (default: {data_home() / 'index'}, or $SEMSEARCH_HOME/index)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=d if suppress else False,
        help="print one JSON document on stdout",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=d if suppress else 0, help="log more on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semsearch",
        description="Find the thing you mean in your files: documents and images, "
        "by meaning, in Korean and English.",
    )
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)

    from .cli_search import register as register_search

    register_search(sub, common)

    p = sub.add_parser("status", parents=[common], help="what is indexed, with which models")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("models", parents=[common], help="model presets and where they load from")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "verify", parents=[common], help="check the catalog, index files and indexed files agree"
    )
    p.add_argument(
        "--no-sources", action="store_true", help="do not check that indexed files still exist"
    )
    wait_option(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "repair", parents=[common], help="fix what verify finds: rebuild from the catalog"
    )
    p.add_argument(
        "--no-sources", action="store_true", help="keep files that no longer exist on disk"
    )
    wait_option(p)
    p.set_defaults(func=cmd_repair)

    for ep in entry_points(group=COMMANDS_GROUP):
        ep.load()(sub, common)
    return parser


def cmd_status(app: App) -> int:
    from .store import Store

    index_dir = app.settings.index_dir
    with Store(index_dir) as store:
        counts = store.catalog.counts()
        spaces = store.catalog.spaces()
        skipped = store.catalog.skipped()
        files = sorted(index_dir.iterdir())
    sizes = {f.name: f.stat().st_size for f in files if f.is_file()}
    obj = {
        "index": str(index_dir.resolve()),
        "counts": counts,
        "spaces": [
            {
                "name": s.name,
                "model": s.model,
                "fingerprint": s.fingerprint,
                "dim": s.dim,
                "index_generation": s.index_generation,
                "vectors": s.index_count,
            }
            for s in spaces
        ],
        "bytes": sizes,
        "total_bytes": sum(sizes.values()),
        "skipped": [{"path": p, "reason": r} for p, r in skipped],
    }

    def human() -> None:
        print(f"index:   {obj['index']}")
        print(
            f"files:   {counts.get('files_text', 0)} documents, "
            f"{counts.get('files_image', 0)} images, {counts['skipped']} skipped"
        )
        print(f"chunks:  {counts['chunks']}")
        for s in spaces:
            print(
                f"space:   {s.name:6} {s.model} (dim {s.dim}, fingerprint {s.fingerprint}, "
                f"{counts.get('vectors_' + s.name, 0)} vectors)"
            )
        print(f"size:    {_human_bytes(int(obj['total_bytes']))}")  # type: ignore[call-overload]
        for p, r in skipped[:20]:
            print(f"skipped: {app.show_path(p)}: {r}")
        if len(skipped) > 20:
            print(f"skipped: ... and {len(skipped) - 20} more (see --json)")

    app.emit(obj, human)
    return 0


def cmd_models(app: App) -> int:
    from .models import describe_presets

    rows = describe_presets(app.settings.model_cache)

    def human() -> None:
        for r in rows:
            mark = "yes" if r["available"] else "no "
            default = " (default)" if r["default"] else ""
            print(f"{r['kind']:5}  {r['name']:15} available: {mark}  {r['where']}{default}")

    app.emit({"models": rows}, human)
    return 0


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


def cmd_verify(app: App) -> int:
    from .verify import verify_folder

    report = verify_folder(
        app.settings.index_dir,
        check_sources=not app.args.no_sources,
        wait=app.args.wait,
        on_wait=app.status_line,
    )

    def human() -> None:
        for p in report.problems:
            print(f"problem: {p.message}")
            for example in p.examples:
                print(f"         {app.show_path(example)}")
        for note in report.notes:
            print(f"note:    {note}")
        n = len(report.problems)
        found = f"{n} problem{'s' if n != 1 else ''}"
        print("verify: clean" if not n else f"verify: {found} (`semsearch repair` fixes them)")

    app.emit(report.to_json(), human)
    return 0 if report.clean else 1


def cmd_repair(app: App) -> int:
    from .verify import repair_folder

    done, after = repair_folder(
        app.settings.index_dir,
        check_sources=not app.args.no_sources,
        wait=app.args.wait,
        on_wait=app.status_line,
    )

    def human() -> None:
        for line in done:
            print(f"repair: {line}")
        for p in after.problems:
            print(f"problem: {p.message}")
        print("verify: clean" if after.clean else "verify: problems remain")

    app.emit({"done": done, "verify": after.to_json()}, human)
    return 0 if after.clean else 1


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


class _UsageError(SearchEngineError):
    exit_code = 2


def usage(message: str) -> _UsageError:
    return _UsageError(message)


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="semsearch: %(message)s", stream=sys.stderr)
    if verbose < 2:
        for noisy in ("transformers", "huggingface_hub", "open_clip", "alembic", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose or 0)
    app = App(args)
    try:
        return int(args.func(app))
    except SearchEngineError as exc:
        app.close_bars()
        print(f"semsearch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        app.close_bars()
        where = f": {exc.filename}" if exc.filename else ""
        print(f"semsearch: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        app.close_bars()
        print(
            "semsearch: interrupted; what was committed is kept, run again to finish",
            file=sys.stderr,
        )
        return 130
    finally:
        app.close_bars()


if __name__ == "__main__":
    sys.exit(main())
