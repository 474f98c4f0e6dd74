"""The `semsearch` command line: the parser and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from searchengine import __version__
from searchengine.cli import explore as explore_commands
from searchengine.cli import index as index_commands
from searchengine.cli import learn as learn_commands
from searchengine.cli import manage as manage_commands
from searchengine.cli import related as related_commands
from searchengine.cli import search as search_commands
from searchengine.cli import watch as watch_commands
from searchengine.cli.app import INTERRUPTED_EXIT, App, exit_code, message
from searchengine.config import data_home
from searchengine.errors import SearchEngineError


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--index",
        metavar="DIR",
        default=d,
        help=f"index folder (default: {data_home() / 'index'}, or $SEMSEARCH_HOME/index)",
    )
    parser.add_argument(
        "--catalog",
        metavar="URL",
        default=d,
        help="keep the catalog in a database server shared by many indexers and searchers, "
        "e.g. postgresql+psycopg://user@host/db (default: catalog.sqlite in the index "
        "folder, or $SEMSEARCH_CATALOG); the index folder then holds this machine's caches",
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
    parser.add_argument("--version", action="version", version=f"semsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)
    search_commands.register(sub, common)
    manage_commands.register(sub, common)
    index_commands.register(sub, common)
    watch_commands.register(sub, common)
    explore_commands.register(sub, common)
    related_commands.register(sub, common)
    learn_commands.register(sub, common)
    return parser


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
        print(f"semsearch: error: {message(exc, args)}", file=sys.stderr)
        return exit_code(exc)
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
        return INTERRUPTED_EXIT
    finally:
        app.close_bars()


if __name__ == "__main__":
    sys.exit(main())
