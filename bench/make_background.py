"""Write searchengine/data/background.txt: the reference passages of a text z-score.

A hit's z-score says how far its similarity to the query stands above the
query's similarity to ordinary unrelated text. That text must not come from
the user's index (a folder of eight documents would measure the query against
its own answer), so the product ships a fixed set: the openings of 80 evenly
spaced answers from each FAQ corpus of evalsets/ (Korean Debian FAQ, English
Python FAQ; their licences are in evalsets/*/SOURCE.md), cut at about 200
characters on a word boundary, one passage per line.

    python -m bench.make_background
    python -m bench.make_background --smoke   # write to a temporary file, compare with
                                              # the shipped one, leave the repository alone
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "searchengine" / "data" / "background.txt"
SOURCES = ["evalsets/debian-faq-ko/docs", "evalsets/python-faq-en/docs"]
CHARS = 200
PER_SOURCE = 80  # encoded once per model at first use: kept small on purpose


def opening(text: str) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= CHARS:
        return flat
    cut = flat.rfind(" ", 0, CHARS)
    return flat[: cut if cut > CHARS // 2 else CHARS]


def write(out: Path) -> int:
    """Write the passages to `out`; returns how many."""
    lines = [
        "# Reference passages for text z-scores (searchengine/fusion.py); made by",
        "# bench/make_background.py from the Debian FAQ (Korean, SPI permission notice)",
        "# and the Python FAQ (PSF licence); see evalsets/*/SOURCE.md.",
    ]
    for folder in SOURCES:
        passages = [
            opening(p.read_text(encoding="utf-8")) for p in sorted((ROOT / folder).glob("*.txt"))
        ]
        passages = [p for p in passages if len(p) >= 40]
        step = len(passages) / PER_SOURCE
        lines += [passages[int(i * step)] for i in range(min(PER_SOURCE, len(passages)))]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="write into a temporary folder and say whether it matches the shipped file",
    )
    args = ap.parse_args()
    if not args.smoke:
        print(f"{OUT.relative_to(ROOT)}: {write(OUT)} passages")
        return
    with tempfile.TemporaryDirectory(prefix="background-smoke-") as tmp:
        out = Path(tmp) / OUT.name
        n = write(out)
        same = OUT.is_file() and out.read_bytes() == OUT.read_bytes()
        verdict = "the same as" if same else "DIFFERENT from"
        print(f"{out}: {n} passages; {verdict} {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
