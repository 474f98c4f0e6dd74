"""The upkeep commands: `status`, `models`, `verify`, `repair` and `copy-catalog`."""

from __future__ import annotations

import argparse
from typing import Any

from indexer.ocr import OcrOptions, status_line
from indexer.ocr import status as ocr_status
from searchengine.cli.app import App, wait_option


def register(sub: Any, common: argparse.ArgumentParser) -> None:
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

    p = sub.add_parser(
        "copy-catalog",
        parents=[common],
        help="copy this index's catalog into a new database (a shared PostgreSQL server)",
    )
    p.add_argument("url", help="the empty catalog to fill, e.g. postgresql+psycopg://host/db")
    wait_option(p)
    p.set_defaults(func=cmd_copy_catalog)


def cmd_status(app: App) -> int:
    with app.open_index() as index:
        status = index.status()
    counts, skipped = status.counts, status.skipped

    def human() -> None:
        print(f"index:   {status.index}")
        attached = counts.get("attached", 0)
        print(
            f"files:   {counts.get('files_text', 0)} documents"
            + (f" ({attached} of them attached to mails)" if attached else "")
            + f", {counts.get('files_image', 0)} images, {counts['skipped']} skipped"
        )
        print(f"chunks:  {counts['chunks']}")
        for s in status.spaces:
            vectors = counts.get(f"vectors_{s['name']}", 0)
            precision = s["precision"] or "precision not recorded"
            print(
                f"space:   {s['name']:6} {s['model']} (dim {s['dim']}, fingerprint "
                f"{s['fingerprint']}, {vectors} vectors, {precision})"
            )
        print(f"size:    {_human_bytes(status.total_bytes)}")
        for p, r in skipped[:20]:
            print(f"skipped: {app.show_path(p)}: {r}")
        if len(skipped) > 20:
            print(f"skipped: ... and {len(skipped) - 20} more (see --json)")
        for o in status.new_outliers[:5]:
            print(f"unusual: {app.show_path(str(o['path']))} (new; z {float(str(o['z'])):.1f})")
        print(status_line(OcrOptions.from_settings(app.settings)))

    app.emit({**status.to_json(), "ocr": ocr_status(OcrOptions.from_settings(app.settings))}, human)
    return 0


def cmd_models(app: App) -> int:
    from searchengine.models.presets import describe_presets

    rows = describe_presets(app.settings.model_cache)

    def human() -> None:
        width = max(len(str(r["name"])) for r in rows)
        for r in rows:
            mark = "yes" if r["available"] else "no "
            default = " (default)" if r["default"] else ""
            name = str(r["name"]).ljust(width)
            print(f"{r['kind']:5}  {name}  available: {mark}  {r['where']}{default}")
        print(status_line(OcrOptions.from_settings(app.settings)))

    app.emit({"models": rows, "ocr": ocr_status(OcrOptions.from_settings(app.settings))}, human)
    return 0


def cmd_verify(app: App) -> int:
    report = app.open_index().verify(check_sources=not app.args.no_sources)

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
    result = app.open_index().repair(check_sources=not app.args.no_sources)

    def human() -> None:
        for line in result.done:
            print(f"repair: {line}")
        for p in result.after.problems:
            print(f"problem: {p.message}")
        print("verify: clean" if result.clean else "verify: problems remain")

    app.emit(result.to_json(), human)
    return 0 if result.clean else 1


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def cmd_copy_catalog(app: App) -> int:
    from searchengine.catalog.postgres import redacted

    with app.open_index() as index:
        copied = index.copy_catalog(app.args.url, on_progress=app.progress)
    app.close_bars()
    target = redacted(app.args.url)

    def human() -> None:
        print(
            f"copied {copied.get('files', 0)} files, {copied.get('chunks', 0)} chunks and "
            f"{copied.get('vectors', 0)} vectors into {target}"
        )
        print(f"use it with --catalog {target} (or SEMSEARCH_CATALOG)")

    app.emit({"catalog": target, "copied": copied}, human)
    return 0
