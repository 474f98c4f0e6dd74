"""The writing commands: `semsearch index` and `semsearch reembed`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import nullcontext, redirect_stdout
from dataclasses import replace
from typing import Any, TypeVar

from indexer.ocr import OCR_MODES, OcrOptions, unavailable
from searchengine.api import Index, IndexReport, ReembedReport
from searchengine.cli.app import INTERRUPTED_EXIT, App, usage, wait_option
from searchengine.config import Settings

T = TypeVar("T")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="index a folder (only what changed)")
    p.add_argument("folder", help="the folder to index")
    reading_options(p)
    p.add_argument(
        "--ray",
        nargs="?",
        const=True,
        metavar="ADDRESS",
        help="read and encode on a Ray cluster: alone, start one on this machine; "
        "'auto' or HOST:PORT joins one (write it after the folder; needs semsearch[ray])",
    )
    wait_option(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser(
        "reembed",
        parents=[common],
        help="switch to another model: re-embed everything, then swap atomically",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--text-model", help="the new text model")
    which.add_argument("--image-model", help="the new image model")
    bf16_option(p)
    wait_option(p)
    p.set_defaults(func=cmd_reembed)


def reading_options(p: argparse.ArgumentParser) -> None:
    """What `index` and `watch` share: the models, which files, how they are read."""
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
    p.add_argument(
        "--no-word-vectors",
        dest="word_vectors",
        action="store_false",
        help="do not train the collection's word vectors after this run (related words, "
        "--expand and the word-vector modes train them when first used)",
    )
    bf16_option(p)
    p.add_argument(
        "--max-file-mb",
        type=float,
        metavar="MB",
        help="skip files larger than this (default 512)",
    )
    p.add_argument(
        "--file-timeout",
        type=float,
        metavar="SECONDS",
        help="skip a file whose reading takes longer than this (default 60; it starts "
        "again with each scanned page read by OCR; 0: no limit)",
    )
    p.add_argument(
        "--ocr",
        choices=OCR_MODES,
        help="read scanned PDF pages with Tesseract: auto (default) the pages with no text "
        "layer, all also those with little text, off never",
    )
    p.add_argument(
        "--ocr-languages",
        metavar="LANGS",
        help="Tesseract's language models, joined by + (default kor+eng)",
    )


def writing_settings(app: App) -> Settings:
    """The settings of a writing command, from `reading_options`' flags."""
    args = app.args
    settings = app.settings
    if getattr(args, "max_file_mb", None) is not None:
        settings = replace(settings, max_file_bytes=int(args.max_file_mb * 1024 * 1024))
    if getattr(args, "file_timeout", None) is not None:
        settings = replace(settings, file_timeout_s=args.file_timeout)
    if getattr(args, "precision", None):
        settings = replace(settings, text_precision=args.precision)
    if getattr(args, "ocr", None):
        settings = replace(settings, ocr=args.ocr)
    if getattr(args, "ocr_languages", None):
        settings = replace(settings, ocr_languages=args.ocr_languages)
    if getattr(args, "exclude", None) is not None:
        settings = replace(settings, exclude=tuple(args.exclude), include_hidden=args.hidden)
    return settings


def bf16_option(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--fp32",
        dest="precision",
        action="store_const",
        const="fp32",
        help="encode text in float32 even where the CPU has bfloat16 instructions "
        "(by default indexing runs in bf16 there: about 2x faster, search quality within "
        "1%%; docs/precision.md)",
    )
    which.add_argument(
        "--bf16",
        dest="precision",
        action="store_const",
        const="bf16",
        help="bf16, and say so where the CPU cannot (the default is bf16 where it can)",
    )


def cmd_index(app: App) -> int:
    args = app.args
    settings = replace(writing_settings(app), word_vectors=args.word_vectors)
    ocr = OcrOptions.from_settings(settings)
    if ocr.mode != "off" and (reason := unavailable(ocr)) is not None:
        app.status_line(f"{reason}: scans are skipped, pictures indexed without their words")
    index = app.open_index(settings)
    try:
        with app.stoppable() as should_stop:
            # Ray prints its workers' troubles on stdout: they go with the other diagnostics
            with redirect_stdout(sys.stderr) if args.ray else nullcontext():
                try:
                    summary = index.add(
                        args.folder, ray=args.ray, on_progress=app.progress, should_stop=should_stop
                    )
                finally:
                    app.close_bars()
        app.emit(summary.to_json(), lambda: _print_summary(app, summary))
        if summary.word_vectors == "training":
            _finish_word_vectors(app, index)
    finally:
        index.close(wait=False)
    return _interrupted(app, summary.interrupted, f"{summary.committed} files")


def _finish_word_vectors(app: App, index: Index) -> None:
    """The run is reported; the word vectors it started are trained before the process
    ends, unless Ctrl-C says not now (then `related` trains them when first asked)."""
    if index.wait_for_word_vectors(timeout=1.0):
        return
    app.status_line("training word vectors for related words (Ctrl-C skips this for now)")
    try:
        index.wait_for_word_vectors()
    except KeyboardInterrupt:
        app.status_line("word vectors skipped: `semsearch related` trains them when first used")


def _stoppable(app: App, settings: Settings, work: Callable[..., T]) -> T:
    """Run a writing call with progress bars, the first Ctrl-C asking it to stop."""
    try:
        with app.stoppable() as should_stop, app.open_index(settings) as index:
            return work(index, on_progress=app.progress, should_stop=should_stop)
    finally:
        app.close_bars()


def _interrupted(app: App, interrupted: bool, committed: str) -> int:
    if not interrupted:
        return 0
    app.status_line(f"interrupted: {committed} committed; run the same command again to finish")
    return INTERRUPTED_EXIT


def _print_summary(app: App, s: IndexReport) -> None:
    for path, reason in s.skipped:
        print(f"skipping {app.show_path(path)}: {reason}")
    if s.interrupted:
        head = f"stopped early, after encoding {s.encoded} vectors"
    elif s.encoded == 0 and not (s.added or s.updated):
        head = "nothing to encode: the index is up to date"
    else:
        head = f"encoded {s.encoded} vectors ({s.chunks} text chunks, {s.images} images)"
    print(f"{head} in {s.seconds:.1f}s")
    print(
        f"added {s.added}, updated {s.updated}, moved {s.moved}, removed {s.removed}, "
        f"unchanged {s.unchanged}, skipped {len(s.skipped)}"
    )
    if s.attached:
        print(f"with them {s.attached} files attached to mails, each an item of its own")


def cmd_reembed(app: App) -> int:
    args = app.args
    space, model = ("text", args.text_model) if args.text_model else ("image", args.image_model)
    if not model:
        raise usage("give --text-model MODEL or --image-model MODEL")
    # the new model is this command's argument, not the model to open the index with
    settings = replace(writing_settings(app), text_model=None, image_model=None)
    summary = _stoppable(app, settings, lambda index, **kw: index.reembed(space, model, **kw))
    app.emit(summary.to_json(), lambda: _print_reembed(app, summary))
    return _interrupted(app, summary.interrupted, f"{summary.encoded} vectors")


def _print_reembed(app: App, s: ReembedReport) -> None:
    if s.already:
        print(f"the {s.space} space already uses {s.model}")
        return
    for path, reason in s.dropped:
        print(f"dropped {app.show_path(path)}: {reason} (the next index run adds it back)")
    if s.swapped:
        print(f"the {s.space} space now uses {s.model}: {s.encoded} vectors encoded")
    else:
        print(
            f"encoded {s.encoded} vectors with {s.model}; the {s.space} space keeps its "
            f"old model until the switch is finished"
        )
