"""The commands that look at the whole collection: `serve`, `map` and `outliers`."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from searchengine.cli.app import App, usage
from searchengine.cli.watch import (
    check_watch_options,
    make_watcher,
    start_in_background,
    watch_options,
)
from searchengine.config import LOCAL_USER
from searchengine.explore.layout import METHODS as MAP_METHODS
from searchengine.explore.outliers import OUTLIER_METHODS

DEFAULT_PORT = 8765
KIND_COLOURS = {"text": "#2455c3", "image": "#d9572b"}
USER_NAME = re.compile(r"[\w.@-]{1,64}")  # the NAME of --token NAME=SECRET


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="the web page and HTTP API of an index")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"(default: {DEFAULT_PORT})")
    p.add_argument(
        "--token",
        action="append",
        metavar="[NAME=]SECRET",
        help="a secret every request must carry; needed off this machine. NAME=SECRET, "
        "given once per person, lets each in as NAME: what they open is theirs",
    )
    p.add_argument(
        "--no-events",
        action="store_true",
        help="do not record what is opened from the page (no recommendations learned)",
    )
    p.add_argument(
        "--watch",
        nargs="+",
        action="extend",
        metavar="FOLDER",
        help="also keep the index level with these folders as they change (as `semsearch "
        "watch` does, in this process); the page shows what is being indexed",
    )
    watch_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("map", parents=[common], help="draw a 2-D map of the collection")
    p.add_argument("--png", metavar="FILE", required=True, help="write the map as a PNG picture")
    p.add_argument("--method", choices=MAP_METHODS, default="tsne", help="(default: tsne)")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("outliers", parents=[common], help="the most unusual items, per space")
    p.add_argument("-k", type=int, default=5, help="neighbours an item is compared with")
    p.add_argument("-n", "--limit", type=int, default=20, help="items listed per space")
    p.add_argument(
        "--method",
        choices=OUTLIER_METHODS,
        default="knn",
        help="knn: far from their nearest neighbours; autoencoder: rebuilt badly by an "
        "autoencoder trained on the space (default: knn)",
    )
    p.set_defaults(func=cmd_outliers)


def cmd_serve(app: App) -> int:
    import uvicorn

    from searchengine.server.app import create_app
    from searchengine.server.security import is_loopback

    args = app.args
    if not is_loopback(args.host) and not args.token:
        raise usage(f"--host {args.host} lets other machines in: give --token as well")
    check_watch_options(args)
    users = token_users(args.token or [])
    settings = replace(app.settings, events=False) if args.no_events else None
    with app.open_index(settings) as index:
        watcher = make_watcher(app, index, args.watch) if args.watch else None
        asgi = create_app(index, bind=args.host, watcher=watcher, users=users)
        shown = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{shown}:{args.port}/"
        if not users:
            app.status_line(f"serving {index.path} on {url}")
        for token, user in users.items():
            app.status_line(f"serving {index.path} to {user} on {url}?token={token}")
        thread = None
        if watcher is not None:
            app.status_line(f"watching {', '.join(watcher.state.folders)}")
            thread = start_in_background(
                watcher, lambda exc: app.status_line(f"the watcher stopped: {exc}")
            )
        try:
            uvicorn.run(asgi, host=args.host, port=args.port, log_level="warning")
        finally:
            if watcher is not None and thread is not None:
                watcher.stop()  # after the current batch: nothing half-written
                thread.join()
    return 0


def token_users(given: list[str]) -> dict[str, str]:
    """token -> user from --token values: NAME=SECRET names its user; a bare SECRET (the
    one token of a server for one person) is the local user's."""
    users: dict[str, str] = {}
    for value in given:
        name, sep, secret = value.partition("=")
        if sep and secret and USER_NAME.fullmatch(name):
            user, token = name, secret
        else:
            user, token = LOCAL_USER, value
        if not token:
            raise usage("--token needs a secret")
        if token in users:
            raise usage(f"--token: two users share one secret ({users[token]}, {user})")
        users[token] = user
    if list(users.values()).count(LOCAL_USER) > 1:
        raise usage("--token: give one bare SECRET at most; name the others NAME=SECRET")
    return users


def cmd_map(app: App) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with app.open_index() as index:
        layout = index.map(app.args.method)
    fig, ax = plt.subplots(figsize=(10, 6), dpi=120)
    for kind, colour in KIND_COLOURS.items():
        rows = [i for i, k in enumerate(layout.kinds) if k == kind]
        if rows:
            label = "documents" if kind == "text" else "images"
            ax.scatter(layout.xy[rows, 0], layout.xy[rows, 1], s=8, c=colour, label=label)
    ax.set_axis_off()
    ax.set_title(f"{len(layout)} items ({'t-SNE' if layout.method == 'tsne' else 'PCA'})")
    if len(layout):
        ax.legend(loc="lower right")
    out = Path(app.args.png).expanduser()
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    app.emit(
        {"png": str(out.resolve()), "items": len(layout), "method": layout.method},
        lambda: print(f"wrote {out}: {len(layout)} items ({layout.method})"),
    )
    return 0


def cmd_outliers(app: App) -> int:
    with app.open_index() as index:
        report = index.outliers(k=app.args.k, limit=app.args.limit, method=app.args.method)

    def human() -> None:
        if not report.spaces:
            print("too few items to tell")
        for space, items in report.spaces.items():
            how = (
                "autoencoder's reconstruction error"
                if report.method == "autoencoder"
                else f"mean distance to {report.neighbours} nearest"
            )
            print(f"most unusual in {space} ({how}):")
            for n, o in enumerate(items, 1):
                print(f"{n:3}. {o.score:<9.3g} z {o.z:5.1f}  {app.show_path(o.path)}")
        for group in report.duplicates:
            print("near-duplicates: " + "  ≈  ".join(app.show_path(str(m["path"])) for m in group))

    app.emit(report.to_json(), human)
    return 0
