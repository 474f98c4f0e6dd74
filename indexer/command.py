"""The `semsearch index` subcommand, added to the CLI through an entry point."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from searchengine.spaces import Spaces
from searchengine.store import Store

from .pipeline import IndexSummary, index_folder


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="index a folder (only what changed)")
    p.add_argument("folder", help="the folder to index")
    p.add_argument("--text-model", help="text model: preset, Hugging Face id or folder")
    p.add_argument("--image-model", help="image model: preset, ARCH:PRETRAINED or folder")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files or folders matching GLOB (repeatable)",
    )
    p.add_argument("--hidden", action="store_true", help="also index hidden files and folders")
    p.set_defaults(func=cmd_index)


def cmd_index(app: Any) -> int:
    args = app.args
    settings = replace(app.settings, exclude=tuple(args.exclude), include_hidden=args.hidden)
    with Store(settings.index_dir, writer=True) as store:
        spaces = Spaces(store.catalog, settings, app.status_line)
        try:
            summary = index_folder(Path(args.folder), store, spaces, settings, app.progress)
        finally:
            app.close_bars()
    app.emit(summary.to_json(), lambda: _print_summary(app, summary))
    return 0


def _print_summary(app: Any, s: IndexSummary) -> None:
    for path, reason in s.skipped:
        print(f"skipping {app.show_path(path)}: {reason}")
    if s.encoded == 0 and not (s.added or s.updated):
        head = "nothing to encode: the index is up to date"
    else:
        head = f"encoded {s.encoded} vectors ({s.chunks} text chunks, {s.images} images)"
    print(f"{head} in {s.seconds:.1f}s")
    print(
        f"added {s.added}, updated {s.updated}, moved {s.moved}, removed {s.removed}, "
        f"unchanged {s.unchanged}, skipped {len(s.skipped)}"
    )
