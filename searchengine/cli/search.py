"""The searching commands: `search`, `similar` and `eval`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from searchengine.cli.app import App, usage
from searchengine.config import DEFAULT_EXPAND, DEFAULT_K
from searchengine.errors import ConfigError, ExtractionError
from searchengine.files import FORMAT_NAMES
from searchengine.filters import DOMAINS, Filters, make_filters
from searchengine.records import MODES, SORTS, SPACES, Hit
from searchengine.vocab import METHODS

_BOLD, _PLAIN = "\x1b[1;33m", "\x1b[0m"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "search", parents=[common], help="search by meaning and by words (text or --image)"
    )
    p.add_argument(
        "query", nargs="*", help="what you are looking for (several words need no quotes)"
    )
    p.add_argument("--image", metavar="PATH", help="find images that look like this one")
    _paging(p)
    p.add_argument(
        "--mode",
        choices=MODES,
        default="hybrid",
        help="hybrid: meaning and words (default); dense: meaning only; lexical: words only",
    )
    p.add_argument("--space", choices=SPACES, help="only documents (text) or only images (image)")
    p.add_argument("--type", dest="space", choices=SPACES, help=argparse.SUPPRESS)  # old name
    p.add_argument(
        "--sort",
        choices=SORTS,
        default="relevance",
        help="relevance (default), or date: the good matches, newest first",
    )
    _expand_option(p)
    _filter_options(p)
    p.add_argument("--text-model", help=argparse.SUPPRESS)
    p.add_argument("--image-model", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", parents=[common], help="items like an indexed file")
    p.add_argument("path")
    _paging(p)
    _filter_options(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser(
        "eval", parents=[common], help="measure search quality on labelled queries (qrels TSV)"
    )
    p.add_argument("qrels", metavar="QRELS.tsv", help="header 'query<TAB>relevant[<TAB>kind]'")
    p.add_argument(
        "--folder",
        metavar="DIR",
        help="the indexed folder the relevant paths are relative to "
        "(default: docs/ beside the qrels file, else its own folder)",
    )
    p.add_argument(
        "--mode",
        action="append",
        choices=[*MODES, *METHODS],
        help="evaluate only this mode (repeatable; default: the three search modes); "
        f"{', '.join(METHODS)}: the baseline that ranks by averaged word vectors",
    )
    _expand_option(p)
    p.set_defaults(func=cmd_eval)


def _expand_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--expand",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_EXPAND,
        help="add the collection's related words (word2vec) to the words searched, weaker "
        f"(default: {'on' if DEFAULT_EXPAND else 'off'}; see `semsearch related`)",
    )


def _paging(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", type=int, default=DEFAULT_K, help="number of results (default 10)")
    p.add_argument(
        "--offset", type=int, default=0, help="skip this many results first (for paging)"
    )


def _filter_options(p: argparse.ArgumentParser) -> None:
    # one option per name of FILTER_NAMES, spelled as the HTTP parameter; old names hidden
    g = p.add_argument_group("filters (combine with every mode)")
    g.add_argument(
        "--folder",
        action="append",
        default=[],
        metavar="PATH",
        help="only files in this folder (or this file); repeatable",
    )
    g.add_argument("--under", action="append", dest="folder", help=argparse.SUPPRESS)
    g.add_argument(
        "--glob",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only paths matching this shell pattern ('*.pdf'; with a '/', the path); repeatable",
    )
    g.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="FORMAT",
        help=f"only files of these formats, comma-separated: {', '.join(FORMAT_NAMES)}",
    )
    g.add_argument("--kind", action="append", dest="format", help=argparse.SUPPRESS)
    g.add_argument("--after", metavar="WHEN", help="modified on or after: 2024-05-01, or 7d/2w/3m")
    g.add_argument("--before", metavar="WHEN", help="modified before: 2024-06-01, or 30d")
    g.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help=f"only pictures of these kinds, comma-separated: {', '.join(DOMAINS)}",
    )


def _filters(args: argparse.Namespace) -> Filters:
    return make_filters(
        args.folder, args.glob, args.format, args.after, args.before, domains=args.domain
    )


def _check_paging(args: argparse.Namespace) -> None:
    if args.k < 1:
        raise usage("-k must be at least 1")
    if args.offset < 0:
        raise usage("--offset must be 0 or more")


def _searching(app: App) -> None:
    """One query at a time gains nothing from a second thread; it loses a lot when
    another process keeps a core busy (torch's pool spins: 25 ms became ~1 s,
    bench/bench_query_modes.py). A search command encodes one query, so it runs on one."""
    app.settings = replace(app.settings, encode_threads=1)


def _notes(app: App, notes: Sequence[str]) -> None:
    for note in dict.fromkeys(notes):
        app.status_line(note)


def _marked(hit: Hit) -> str:
    """The snippet with its highlights in bold on a terminal, as is elsewhere."""
    if not hit.highlights or not sys.stdout.isatty():
        return hit.snippet
    out, at = [], 0
    for a, b in hit.highlights:
        out += [hit.snippet[at:a], _BOLD, hit.snippet[a:b], _PLAIN]
        at = b
    out.append(hit.snippet[at:])
    return "".join(out)


def _print_hits(app: App, hits: Sequence[Hit], offset: int) -> None:
    if not hits:
        print("no results" if offset == 0 else "no more results")
        return
    if offset == 0 and all(h.good is False for h in hits):
        print("no good match; the closest results are:")
    for n, hit in enumerate(hits, start=offset + 1):
        held = "attached to " + Path(hit.within).name if hit.within else None
        marks = [m for m in (hit.domain, hit.place, "read by OCR" if hit.ocr else None, held) if m]
        where = f"  ({', '.join(marks)})" if marks else ""
        weak = "  (weak match)" if hit.good is False and any(h.good for h in hits) else ""
        # no score: each hit's is its own list's (text or image; see --json), and the lists
        # are merged by rank, so the numbers would jump up and down the page
        print(f"{n:2}. {hit.kind:5}  {app.show_path(hit.path)}{where}{weak}")
        if hit.snippet:
            print(f"      {_marked(hit)}")
        if hit.tags:
            print("      tags: " + ", ".join(f"{t.ko} ({t.en}) {t.score:.2f}" for t in hit.tags))


def cmd_search(app: App) -> int:
    args = app.args
    args.query = " ".join(args.query) or None  # `search 승용차 보험` is one query
    if bool(args.query) == bool(args.image):
        raise usage("give a query or --image PATH (one of them)")
    _check_paging(args)
    filters = _filters(args)
    _searching(app)
    if args.query:  # a Korean query needs kiwi: for its terms, and for snippets in any mode
        from searchengine import lexical

        lexical.warm_up(args.query)
    image = os.path.abspath(Path(args.image).expanduser()) if args.image else None
    with app.open_index() as index:
        try:
            results = index.search(
                args.query,
                image=image,
                k=args.k,
                mode=args.mode,
                spaces={args.space} if args.space else None,
                filters=filters,
                offset=args.offset,
                sort=args.sort,
                expand=args.expand,
            )
        except ExtractionError as exc:  # the picture asked about is the user's input
            raise ConfigError(f"{args.image}: {exc}") from exc
    _notes(app, results.notes)
    app.emit(results.to_json(), lambda: _print_hits(app, results.hits, args.offset))
    return 0


def cmd_similar(app: App) -> int:
    args = app.args
    _check_paging(args)
    filters = _filters(args)
    _searching(app)
    with app.open_index() as index:
        results = index.similar(args.path, k=args.k, offset=args.offset, filters=filters)
    _notes(app, results.notes)
    app.emit(results.to_json(), lambda: _print_hits(app, results.hits, args.offset))
    return 0


def cmd_eval(app: App) -> int:
    args = app.args
    modes = args.mode or list(MODES)
    try:
        with app.open_index() as index:
            report = index.evaluate(
                args.qrels,
                folder=args.folder,
                modes=modes,
                on_progress=lambda m, d, t: app.progress(f"eval {m}", d, t),
                expand=args.expand,
            )
    finally:
        app.close_bars()
    if report.missing:
        app.status_line(
            f"{len(report.missing)} of {report.relevant} relevant files are not indexed "
            f"(first: {report.missing[0]}); they count as misses"
        )

    def human() -> None:
        cols = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]

        def figures(m: dict[str, object]) -> str:
            # each mean, and half the width of its 95% interval: a change smaller than
            # that is within what another draw of queries could give
            ci = cast(dict[str, list[float]], m["ci95"])
            return "  ".join(
                f"{m[c]:6.3f} ±{(ci[c][1] - ci[c][0]) / 2:5.3f}".rjust(14) for c in cols
            )

        print(f"{'mode':8} {'queries':>17}  " + "  ".join(f"{c:>14}" for c in cols))
        for mode, kinds in report.modes.items():
            for kind, m in kinds.items():
                print(f"{mode:8} {str(m['queries']) + ' ' + kind:>17}  " + figures(m))
        if any(len(formats) > 1 for formats in report.formats.values()):
            print(f"\n{'mode':8} {'format':>17}  " + "  ".join(f"{c:>14}" for c in cols))
            for mode, formats in report.formats.items():
                for fmt, m in formats.items():
                    print(f"{mode:8} {str(m['queries']) + ' ' + fmt:>17}  " + figures(m))
        print("± half the width of the 95% bootstrap interval (queries resampled)")

    app.emit(report.to_json(os.path.abspath(args.qrels)), human)
    return 0
