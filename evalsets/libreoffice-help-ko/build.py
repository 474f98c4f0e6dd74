#!/usr/bin/env python3
"""Build evalsets/libreoffice-help-ko/ from Debian's Korean LibreOffice help.

    .venv/bin/python evalsets/libreoffice-help-ko/build.py            # apt-get download
    .venv/bin/python evalsets/libreoffice-help-ko/build.py --deb FILE # a .deb already here

The rule (see SOURCE.md): every help page of `libreoffice-help-ko` whose title is Korean,
shared by no other page, over a mostly Korean page, is one labelled query: the page's
title (its `<h1>`) asks for the page's text with that title removed. The hand-written
paraphrases in `paraphrases.tsv` are appended as kind `paraphrase`. The output depends
only on the package's contents and paraphrases.tsv: a rebuild is byte-identical.
Only stdlib, beautifulsoup4 and lxml, plus the `apt-get` and `dpkg-deb` commands.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

HERE = Path(__file__).resolve().parent
PACKAGE = "libreoffice-help-ko"
PINNED = "4:7.4.7-1+deb12u14"
HELP_DIR = "usr/share/libreoffice/help/ko/text"
COPYRIGHT = f"usr/share/doc/{PACKAGE}/copyright"
HEADER = "query\trelevant\tkind\n"

MIN_HANGUL_SHARE = 0.5  # Hangul syllables / (Hangul + Latin letters) of the answer
MIN_CHARS = 150  # an answer shorter than this is a menu stub, not a section to find
MAX_BYTES = 6000  # longer pages are catalogues (all functions of a kind), not answers
BLOCKS = {"p", "h2", "h3", "h4", "h5", "h6", "li", "pre", "tr", "div", "table"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True)
class Page:
    source: str  # path under HELP_DIR
    title: str
    text: str


def norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u00a0", " ")
    return " ".join(text.split())


def hangul_share(text: str) -> float:
    h = len(HANGUL.findall(text))
    a = len(re.findall(r"[A-Za-z]", text))
    return h / (h + a) if h + a else 0.0


def read_page(path: Path, root: Path) -> Page | None:
    """A help page's title and its text without the title, related topics or chrome."""
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")
    area = soup.find(id="DisplayArea")
    if not isinstance(area, Tag):
        return None
    h1 = area.find("h1")
    if not isinstance(h1, Tag):
        return None
    title = norm(h1.get_text(" "))
    h1.decompose()  # the query: never part of its answer
    for tag in area.select(".relatedtopics, meta, script, style, img"):
        tag.decompose()
    for tag in area.find_all(BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for cell in area.find_all("td"):
        cell.insert_after(" | ")
    lines = [norm(line).strip(" |") for line in area.get_text().split("\n")]
    text = "\n".join(line for line in lines if line)
    return Page(path.relative_to(root).as_posix(), title, text)


def pages_of(root: Path) -> list[Page]:
    pages = [read_page(p, root) for p in sorted(root.rglob("*.html"))]
    return [p for p in pages if p is not None]


def select(pages: list[Page]) -> tuple[list[Page], Counter[str]]:
    """The pages that become queries, and why the others were left out."""
    titles = Counter(p.title for p in pages)
    why: Counter[str] = Counter()
    kept = []
    for p in pages:
        if not HANGUL.search(p.title):
            why["title not Korean"] += 1
        elif titles[p.title] > 1:
            why["title shared with another page"] += 1
        elif len(p.text) < MIN_CHARS:
            why[f"answer under {MIN_CHARS} characters"] += 1
        elif len(p.text.encode("utf-8")) > MAX_BYTES:
            why[f"answer over {MAX_BYTES} bytes"] += 1
        elif hangul_share(p.text) < MIN_HANGUL_SHARE:
            why[f"answer under {MIN_HANGUL_SHARE:.0%} Hangul"] += 1
        else:
            kept.append(p)
    return kept, why


def doc_names(pages: list[Page]) -> dict[str, str]:
    """source -> `<module>-NNN.txt`: the module (scalc, swriter, ...) and an ordinal,
    so that no file name spells its page's topic."""
    out: dict[str, str] = {}
    count: Counter[str] = Counter()
    for p in pages:
        module = p.source.split("/")[0]
        count[module] += 1
        out[p.source] = f"{module}-{count[module]:03d}.txt"
    return out


def read_paraphrases(names: dict[str, str]) -> list[tuple[str, str]]:
    """(query, doc name) from paraphrases.tsv, whose second column is the page's source."""
    rows = []
    lines = (HERE / "paraphrases.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query\tsource", lines[0]
    for n, line in enumerate(lines[1:], start=2):
        query, source = line.split("\t")
        if source not in names:
            raise SystemExit(f"paraphrases.tsv:{n}: {source} is not a page of the set")
        rows.append((query, names[source]))
    return rows


def fetch(deb: Path | None, tmp: Path) -> Path:
    if deb is not None:
        return deb
    for version in (PINNED, None):
        spec = f"{PACKAGE}={version}" if version else PACKAGE
        res = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True)
        found = sorted(tmp.glob(f"{PACKAGE}_*.deb"))
        if res.returncode == 0 and found:
            if version is None:
                print(
                    f"warning: {PACKAGE} {PINNED} is gone; using the current one", file=sys.stderr
                )
            return found[-1]
    raise SystemExit(f"apt-get download {PACKAGE} failed (try `apt-get update` first)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deb", type=Path, help=f"a {PACKAGE}_*.deb to read instead of downloading")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        deb = fetch(args.deb, tmp)
        version = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        sha = hashlib.sha256(deb.read_bytes()).hexdigest()
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
        pages = pages_of(tmp / "x" / HELP_DIR)
        licence = (tmp / "x" / COPYRIGHT).read_text(encoding="utf-8")
    kept, why = select(pages)
    names = doc_names(kept)
    docs = HERE / "docs"
    shutil.rmtree(docs, ignore_errors=True)
    docs.mkdir()
    rows = []
    for p in kept:
        (docs / names[p.source]).write_text(p.text + "\n", encoding="utf-8")
        echoed = p.title.lower() in p.text.lower()
        rows.append((p.title, names[p.source], "title-in-text" if echoed else "title"))
    rows += [(q, name, "paraphrase") for q, name in read_paraphrases(names)]
    with open(HERE / "qrels.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER)
        f.writelines(f"{q}\t{r}\t{k}\n" for q, r, k in rows)
    with open(HERE / "pages.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write("file\tsource\n")
        f.writelines(f"{names[p.source]}\t{p.source}\n" for p in kept)
    kinds = Counter(k for _, _, k in rows)
    size = sum(len(p.text.encode("utf-8")) + 1 for p in kept)
    licence_head = licence.split("\n\n")[1] if "\n\n" in licence else licence
    print(
        f"{PACKAGE} {version} sha256 {sha}\n"
        f"{len(pages)} pages with a title; kept {len(kept)} ({size} bytes)\n"
        + "".join(f"  left out, {reason}: {n}\n" for reason, n in sorted(why.items()))
        + "".join(f"  queries of kind {k}: {n}\n" for k, n in sorted(kinds.items()))
        + f"licence stanza:\n{licence_head}"
    )


if __name__ == "__main__":
    main()
