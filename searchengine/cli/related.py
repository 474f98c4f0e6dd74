"""`semsearch related`: the collection's own vocabulary, from its word vectors.

semsearch related 자동차                  nearest words, cosine and corpus count
semsearch related 왕 - 남자 + 여자        an analogy: operators stand apart
semsearch related --analogy 왕 남자 여자  the same (a - b + c)
semsearch related 커널 --png map.png     the neighbourhood drawn by t-SNE
"""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path
from typing import Any

from searchengine.cli.app import App, usage
from searchengine.config import DEFAULT_K
from searchengine.vocab import METHODS

MAP_NEIGHBOURS = 30


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "related",
        parents=[common],
        help="words this collection uses alike (word2vec/GloVe on its own text)",
        description="Nearest words to WORD in the indexed text. WORD is analysed like a "
        "query (자동차를 → 자동차). An analogy is written with spaced operators, "
        "`A - B + C`, or with --analogy A B C.",
    )
    p.add_argument("words", nargs="*", metavar="WORD", help="a word, or A - B + C")
    p.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"), help="A - B + C")
    p.add_argument("-k", type=int, default=DEFAULT_K, help="number of words (default 10)")
    p.add_argument(
        "--method",
        choices=METHODS,
        default="word2vec",
        help="word2vec (skip-gram, default), cbow or glove",
    )
    p.add_argument(
        "--png",
        metavar="FILE",
        help=f"also draw the word and its {MAP_NEIGHBOURS} nearest (t-SNE) as a PNG picture",
    )
    p.set_defaults(func=cmd_related)


def _question(args: argparse.Namespace) -> str:
    if bool(args.words) == bool(args.analogy):
        raise usage("give WORD (or A - B + C), or --analogy A B C: one of them")
    if args.analogy:
        a, b, c = args.analogy
        return f"{a} - {b} + {c}"
    return " ".join(args.words)


def cmd_related(app: App) -> int:
    args = app.args
    if args.k < 1:
        raise usage("-k must be at least 1")
    question = _question(args)
    with app.open_index() as index:
        related = index.related(question, k=args.k, method=args.method)
        drawn = (
            index.related_map(question, k=MAP_NEIGHBOURS, method=args.method) if args.png else None
        )
    out: dict[str, Any] = related.to_json()
    if drawn is not None:
        png = Path(args.png).expanduser()
        _draw(drawn, png, f"{question} ({args.method})")
        out["png"] = str(png.resolve())

    def human() -> None:
        asked = " + ".join(related.positive) + "".join(f" - {w}" for w in related.negative)
        print(f"nearest to {asked} ({related.method}):")
        width = max((_width(n.word) for n in related.neighbours), default=0)
        for i, n in enumerate(related.neighbours, 1):
            pad = " " * (width - _width(n.word))
            print(f"{i:3}. {n.score:.3f}  {n.word}{pad}  ×{n.count}")
        if drawn is not None:
            print(f"wrote {out['png']}: {len(drawn.words)} words")

    app.emit(out, human)
    return 0


def _width(word: str) -> int:
    """Columns `word` takes on a terminal: Hangul and Han take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in word)


def _draw(drawn: Any, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # Hangul needs a CJK font; matplotlib's default draws empty boxes for it
    cjk = [f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name]
    family = [*sorted(set(cjk))[:1], "DejaVu Sans"]
    with plt.rc_context({"font.family": family}):
        fig, ax = plt.subplots(figsize=(9, 7), dpi=120)
        xy = drawn.xy
        colours = ["#d9572b" if i < drawn.asked else "#2455c3" for i in range(len(drawn.words))]
        ax.scatter(xy[:, 0], xy[:, 1], s=14, c=colours)
        for i, word in enumerate(drawn.words):
            weight = "bold" if i < drawn.asked else "normal"
            ax.annotate(
                word,
                (xy[i, 0], xy[i, 1]),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=9,
                fontweight=weight,
            )
        ax.set_axis_off()
        ax.set_title(title)
        fig.savefig(out, bbox_inches="tight")
        plt.close(fig)
