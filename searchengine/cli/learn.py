"""The commands of learning from use: `recommend` and `forget`."""

from __future__ import annotations

import argparse
from typing import Any

from searchengine.cli.app import App, usage
from searchengine.config import DEFAULT_K, LOCAL_USER

BASIS_EMPTY = {
    "none": "nothing recorded yet: open some hits on the page (semsearch serve) first",
    "together": "no one opened this item yet",
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "recommend",
        parents=[common],
        help="items for a user, learned from what people opened (or: opened with an item)",
    )
    p.add_argument("--user", metavar="NAME", help="whose recommendations (default: local)")
    p.add_argument(
        "--with",
        dest="with_path",
        metavar="FILE",
        help="instead: the items most often opened with this indexed file",
    )
    p.add_argument("-k", type=int, default=DEFAULT_K, help=f"how many (default: {DEFAULT_K})")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser(
        "forget",
        parents=[common],
        help="erase what was recorded of what people opened (one user's, or everyone's)",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="NAME", help="erase this user's events")
    who.add_argument("--all", action="store_true", help="erase every user's events")
    p.set_defaults(func=cmd_forget)


def cmd_recommend(app: App) -> int:
    args = app.args
    if args.k < 1:
        raise usage("-k must be at least 1")
    with app.open_index() as index:
        if args.with_path:
            found = index.item_at(args.with_path)
            if found is None:
                raise usage(f"not an indexed file: {args.with_path}")
            result = index.opened_with(found, k=args.k)
        else:
            result = index.recommend(args.user or LOCAL_USER, k=args.k)

    def human() -> None:
        if not result.items:
            print(BASIS_EMPTY.get(result.basis, "nothing to recommend yet"))
        elif result.basis == "popular":
            print("no history for this user yet: the most opened items")
        for n, s in enumerate(result.items, 1):
            print(f"{n:3}. {s.score:7.3f}  {s.source:8}  {app.show_path(s.path)}")

    app.emit(result.to_json(), human)
    return 0


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
