"""The `semsearch` command line: the only place that prints or picks exit codes.

The program starts in `start.main` (light: see why there); the parser and the
commands are in `main`.
"""
