"""The `semsearch` command line: the only place that prints or picks exit codes."""

from searchengine.cli.main import main

__all__ = ["main"]
