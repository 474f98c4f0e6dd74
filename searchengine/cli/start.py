"""The `semsearch` program's first lines, before the command line's imports.

Importing the command line takes about half a second (SQLAlchemy, the indexer,
the server's models). A one-shot Korean search starts its Korean analyser
first (`lexical.warm_up`: kiwi loads in a helper process, ~1.7 s) so that it
loads on the other core during those imports too; it was the longest path of
such a search.
"""

from __future__ import annotations

import sys


def main() -> int:
    args = sys.argv[1:]
    if "search" in args and not all(arg.isascii() for arg in args):
        from searchengine import lexical  # light; it starts kiwi only for Hangul

        for arg in args:
            lexical.warm_up(arg)
    from searchengine.cli.main import main as run

    return run()
