"""The commands of learning from use: `recommend` and `forget`."""

from __future__ import annotations

import argparse
from typing import Any

from searchengine.cli.app import App, usage


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "forget",
        parents=[common],
        help="erase what was recorded of what people opened (one user's, or everyone's)",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="NAME", help="erase this user's events")
    who.add_argument("--all", action="store_true", help="erase every user's events")
    p.set_defaults(func=cmd_forget)


def cmd_forget(app: App) -> int:
    user = app.args.user
    if user is not None and not user.strip():
        raise usage("--user needs a name")
    with app.open_index() as index:
        erased = index.forget(None if app.args.all else user)
    who = "every user" if app.args.all else f"user {user}"
    app.emit(
        {"user": None if app.args.all else user, "erased": erased},
        lambda: print(f"erased {erased} events of {who}"),
    )
    return 0
