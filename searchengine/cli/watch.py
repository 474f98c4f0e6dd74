"""`semsearch watch`: keep the index level with folders as they change, until stopped.

Also the watcher that `semsearch serve --watch` runs beside the server.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from indexer.watch import DEFAULT_RECONCILE_S, DEFAULT_SETTLE_S, WatchState
from searchengine.api import Index, IndexReport, Watcher
from searchengine.cli.app import INTERRUPTED_EXIT, App, usage
from searchengine.cli.index import reading_options, writing_settings


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "watch",
        parents=[common],
        help="index folders, then follow their changes until stopped (Ctrl-C)",
        description="Index what changed in the folders since the last run, then follow "
        "them: each file created, changed, renamed or deleted is indexed seconds after it "
        "settles, and a full walk every --reconcile seconds catches what file events miss. "
        "The writer lock is held only while writing. Ctrl-C or SIGTERM stops after the "
        "current batch; nothing is half-written. With --json, one JSON object a line per run.",
    )
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="the folders to follow")
    reading_options(p)
    watch_options(p)
    p.set_defaults(func=cmd_watch)


def watch_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    p.add_argument(
        "--reconcile",
        type=float,
        default=DEFAULT_RECONCILE_S,
        metavar="SECONDS",
        help=f"walk the folders whole this often, for changes that no event announced "
        f"(network drives) (default {DEFAULT_RECONCILE_S:.0f})",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE_S,
        metavar="SECONDS",
        help=f"index a file once it has had no event for this long (default {DEFAULT_SETTLE_S})",
    )


def check_watch_options(args: argparse.Namespace) -> None:
    if args.reconcile <= 0:
        raise usage("--reconcile must be more than 0 seconds")
    if args.settle < 0:
        raise usage("--settle must be 0 seconds or more")


def cmd_watch(app: App) -> int:
    args = app.args
    check_watch_options(args)
    settings = replace(writing_settings(app), word_vectors=args.word_vectors)
    with app.open_index(settings) as index:
        watcher = make_watcher(app, index, args.folders)
        roots = ", ".join(app.show_path(r) for r in watcher.state.folders)
        app.status_line(f"watching {roots} (a full walk every {args.reconcile:.0f}s); Ctrl-C stops")
        code = run_until_stopped(app, watcher)
        state = watcher.state
        if app.json:
            _line({"event": "stopped", **state.to_json()})
        app.status_line(
            f"stopped: {state.indexed} files indexed, {state.moved} moved, "
            f"{state.removed} removed since the start; nothing is half-written"
        )
        index.close(wait=False)  # word vectors: the next full run or first use trains them
    return code


def make_watcher(app: App, index: Index, folders: Sequence[str]) -> Watcher:
    """A watcher over `folders` that reports each run on stdout (and problems on stderr)."""
    told = {"detail": ""}

    def on_state(state: WatchState) -> None:
        if state.detail and state.detail != told["detail"]:
            app.status_line(state.detail)
        told["detail"] = state.detail

    def on_report(root: Path, report: IndexReport, paths: list[Path] | None) -> None:
        if app.json:
            _line(
                {
                    "event": "run",
                    "places": None if paths is None else len(paths),
                    **report.to_json(),
                }
            )
            return
        changed = report.committed or report.removed or report.moved
        if not changed and not report.skipped:
            return
        for path, reason in report.skipped:
            print(f"skipping {app.show_path(path)}: {reason}", flush=True)
        if changed:
            what = "full walk" if paths is None else f"{len(paths)} changed places"
            print(
                f"{time.strftime('%H:%M:%S')} {app.show_path(report.root)} ({what}): "
                f"added {report.added}, updated {report.updated}, moved {report.moved}, "
                f"removed {report.removed}; {report.encoded} vectors in {report.seconds:.1f}s",
                flush=True,
            )

    args = app.args
    return index.watcher(
        folders,
        settle_s=args.settle,
        reconcile_s=args.reconcile,
        on_report=on_report,
        on_state=on_state,
    )


def run_until_stopped(app: App, watcher: Watcher) -> int:
    """Run the watcher until Ctrl-C or SIGTERM (a second one: at once); the exit code."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            watcher.run()
        except BaseException as exc:  # handed to the main thread, which reports it
            failure.append(exc)

    thread = threading.Thread(target=run, name="semsearch-watch", daemon=True)

    def on_signal(signum: int, frame: object) -> None:
        if watcher.stopping:
            raise KeyboardInterrupt
        app.status_line("stopping after the current batch (again to stop at once)")
        watcher.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if failure:
        raise failure[0]
    return 0


def start_in_background(
    watcher: Watcher, on_error: Callable[[BaseException], None]
) -> threading.Thread:
    """Run `watcher` in a daemon thread (the server's); `on_error` hears why it ended early."""

    def run() -> None:
        try:
            watcher.run()
        except Exception as exc:  # the server goes on serving what is indexed
            on_error(exc)

    thread = threading.Thread(target=run, name="semsearch-watch", daemon=True)
    thread.start()
    return thread


def _line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
