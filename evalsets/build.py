#!/usr/bin/env python3
"""Build the labelled retrieval evaluation sets under evalsets/ from Debian packages.

    .venv/bin/python evalsets/build.py              # apt-get download into a temp dir
    .venv/bin/python evalsets/build.py --debs DIR   # use .deb files already in DIR

Sources (Debian bookworm):
  debian-faq-ko  Debian FAQ in Korean (HTML)        -> evalsets/debian-faq-ko/
  debian-faq     Debian FAQ in English (headings only, for the cross-lingual qrels-en.tsv)
  python3.11-doc Python FAQ (HTML, Sphinx)          -> evalsets/python-faq-en/

Everything written is a pure function of the .deb contents: no timestamps, no temp
paths, sorted iteration. Running it twice gives byte-identical files. Only stdlib,
beautifulsoup4 and lxml are used, plus the `apt-get` and `dpkg-deb` commands.
See evalsets/README.md and each set's SOURCE.md for the rules.
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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

try:  # DocBook pages are XHTML; parsing them as HTML is what we want.
    from bs4 import XMLParsedAsHTMLWarning

    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
except ImportError:  # pragma: no cover - older bs4
    pass

HERE = Path(__file__).resolve().parent

# Versions the committed files were built from. apt-get download asks for these first;
# if the archive no longer has one (e.g. a superseded security update) the current
# candidate is used instead, with a warning, and SOURCE.md records what was used.
PINNED = {
    "debian-faq-ko": "11.1",
    "debian-faq": "11.1",
    "python3.11-doc": "3.11.2-6+deb12u9",
}

FAQ_KO_DIR = "usr/share/doc/debian/FAQ/ko"
FAQ_EN_DIR = "usr/share/doc/debian/FAQ"
FAQ_COPYRIGHT = "usr/share/doc/debian-faq-ko/copyright"
PY_FAQ_DIR = "usr/share/doc/python3.11/html/faq"
PY_LICENSE_HTML = "usr/share/doc/python3.11/html/license.html"
PY_COPYRIGHT_HTML = "usr/share/doc/python3.11/html/copyright.html"

# Debian FAQ chapter files in chapter order (chapter number = position + 1).
DEBIAN_CHAPTERS = [
    "basic-defs", "getting-debian", "choosing", "compatibility", "software",
    "ftparchives", "pkg-basics", "pkgtools", "uptodate", "kernel", "customizing",
    "support", "contributing", "redistributing", "nextrelease", "faqinfo",
]  # fmt: skip

# Python FAQ pages in the order of faq/index.html.
PYTHON_PAGES = [
    "general", "programming", "design", "library", "extending", "windows", "gui",
    "installed",
]  # fmt: skip

EXACT_TARGET = 12  # kind=exact queries per set (brief: 8 to 12)
EXACT_MIN_LEN = 4
HEADER = "query\trelevant\tkind\n"

BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "caption", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
SKIP_TAGS = {"script", "style", "img", "head", "title", "meta", "link"}
# Markup that marks its text as code: commands, file names, package names, literals.
CODE_TAGS = {"code", "pre", "tt", "kbd", "samp"}
CODE_CLASSES = {"command", "literal", "filename", "systemitem", "refentrytitle", "pre"}

HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
SECNUM = re.compile(r"^(\d+(?:\.\d+)*)\.\s+")


# --------------------------------------------------------------------------- utils


def norm_ws(text: str) -> str:
    """NFC, non-breaking spaces to spaces, all whitespace runs to one space."""
    text = unicodedata.normalize("NFC", text).replace("\u00a0", " ")
    return " ".join(text.split())


def has_hangul(text: str) -> bool:
    return bool(HANGUL.search(text))


MOSTLY_ENGLISH = 0.10  # reporting only: Hangul share below which an answer is "English"


def hangul_share(text: str) -> float:
    """Hangul syllables / (Hangul syllables + Latin letters); 0.0 for neither."""
    h = len(re.findall(r"[\uac00-\ud7a3]", text))
    a = len(re.findall(r"[A-Za-z]", text))
    return h / (h + a) if h + a else 0.0


def read_html(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")


def classes(tag: Tag) -> list[str]:
    value = tag.get("class")
    if value is None:
        return []
    return list(value) if not isinstance(value, str) else value.split()


# ------------------------------------------------------------------------ renderer


class Renderer:
    """HTML fragment -> plain text: one paragraph per block, blank line between blocks.

    Inline runs are whitespace-normalised; <pre> keeps its lines (right-stripped);
    list items get "- "; table rows become one line with cells joined by " | ".
    Subclasses override `inline_special` for source-specific links and markers.
    The text of code markup (<code>, <pre>, class "command", ...) is collected in
    `code_texts` (used by the exact-token rule).
    """

    def __init__(self) -> None:
        self.code_texts: list[str] = []

    def skip(self, tag: Tag) -> bool:
        return tag.name in SKIP_TAGS

    def inline_special(self, tag: Tag) -> str | None:
        """Text for an inline tag handled specially, or None for normal recursion."""
        return None

    def blocks(self, node: Tag) -> list[str]:
        return self.blocks_of(node.children)

    def blocks_of(self, children) -> list[str]:  # type: ignore[no-untyped-def]
        out: list[str] = []
        buf: list[str] = []

        def flush() -> None:
            text = norm_ws("".join(buf))
            if text:
                out.append(text)
            buf.clear()

        for child in children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                buf.append(str(child))
                continue
            if not isinstance(child, Tag) or self.skip(child):
                continue
            if child.name == "br":
                buf.append(" ")
            elif child.name == "pre":
                flush()
                text = self.pre_text(child)
                if text:
                    out.append(text)
                    self.code_texts.append(text)
            elif child.name == "tr":
                flush()
                cells = [" ".join(self.blocks(c)) for c in child.find_all(["td", "th"])]
                line = " | ".join(c for c in cells if c)
                if line:
                    out.append(line)
            elif child.name in BLOCK_TAGS:
                flush()
                sub = self.blocks(child)
                if child.name == "li" and sub:
                    sub[0] = "- " + sub[0]
                out.extend(sub)
            else:
                buf.append(self.inline(child))
        flush()
        return out

    def inline(self, tag: Tag) -> str:
        special = self.inline_special(tag)
        if special is not None:
            return special
        if tag.name in CODE_TAGS or CODE_CLASSES & set(classes(tag)):
            self.code_texts.append(norm_ws(tag.get_text()))
        parts: list[str] = []
        for child in tag.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
            elif isinstance(child, Tag) and not self.skip(child):
                if child.name == "br":
                    parts.append(" ")
                elif child.name in BLOCK_TAGS:  # a block inside an inline tag: keep its text
                    parts.append(" " + " ".join(self.blocks(child)) + " ")
                else:
                    parts.append(self.inline(child))
        return "".join(parts)

    def pre_text(self, pre: Tag) -> str:
        text = unicodedata.normalize("NFC", pre.get_text()).replace("\u00a0", " ")
        lines = [ln.rstrip() for ln in text.expandtabs(8).split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines)


def join_blocks(blocks: list[str]) -> str:
    return "\n\n".join(b for b in blocks if b.strip()) + "\n"


# ---------------------------------------------------------------------- data model


@dataclass
class Entry:
    """One FAQ question: a doc file and the queries that should find it."""

    doc: str  # file name relative to docs/
    group: str  # chapter / page, used to spread the exact queries
    text: str  # answer text (the doc's content)
    code: list[str] = field(default_factory=list)  # texts of code markup in the answer
    queries: list[tuple[str, str]] = field(default_factory=list)  # (query, kind)
    queries_en: list[tuple[str, str]] = field(default_factory=list)  # cross-lingual


# ---------------------------------------------------------------------- Debian FAQ


class DebianRenderer(Renderer):
    XREF_LABEL = re.compile(r"^\s*((?:Section|Chapter)\s+\d+(?:\.\d+)*|\d+(?:\.\d+)*\s*[절장])")

    def __init__(self, footnotes: dict[str, Tag]):
        super().__init__()
        self.footnotes = footnotes
        self.used_footnotes: list[str] = []

    def skip(self, tag: Tag) -> bool:
        return super().skip(tag) or "footnotes" in classes(tag)

    def inline_special(self, tag: Tag) -> str | None:
        cls = classes(tag)
        if tag.name == "a" and "xref" in cls:
            # "12.1절. “<other question>”" -> "12.1절": keep the reference, drop the other
            # entry's heading so that no doc contains another entry's question.
            text = norm_ws(tag.get_text())
            m = self.XREF_LABEL.match(text)
            return m.group(1) if m else text
        if tag.name == "a" and "footnote" in cls:
            # "<a href="#ftn.X" class="footnote"><sup>[1]</sup></a>": keep the marker and
            # remember the footnote, which is appended to this answer.
            target = str(tag.get("href", "")).split("#", 1)[-1]
            if target not in self.footnotes:
                raise SystemExit(f"footnote {target!r} not found")
            if target not in self.used_footnotes:
                self.used_footnotes.append(target)
            return norm_ws(tag.get_text())
        return None


@dataclass
class DebSection:
    sid: str
    number: str
    title: str  # heading without number, whitespace-normalised
    div: Tag
    chapter_file: str


def debian_sections(html_dir: Path, suffix: str) -> list[DebSection]:
    out: list[DebSection] = []
    for name in DEBIAN_CHAPTERS:
        soup = read_html(html_dir / f"{name}.{suffix}.html")
        for div in soup.find_all("div", class_="section"):
            head = div.find(["h2", "h3", "h4", "h5"], class_="title")
            anchor = head.find("a", id=True) if head else None
            if head is None or anchor is None:
                raise SystemExit(f"{name}.{suffix}.html: section without titled heading")
            heading = norm_ws(head.get_text())
            m = SECNUM.match(heading)
            if not m:
                raise SystemExit(f"{name}.{suffix}.html: unnumbered heading {heading!r}")
            out.append(DebSection(str(anchor["id"]), m.group(1), heading[m.end() :], div, name))
    return out


def section_own_blocks(div: Tag, renderer: Renderer) -> list[str]:
    """The blocks of a DocBook section div, minus its title and its sub-section divs."""
    own = [
        c for c in div.children
        if not (isinstance(c, Tag) and {"titlepage", "section", "toc"} & set(classes(c)))
    ]  # fmt: skip
    return renderer.blocks_of(own)


def doc_name_from_number(number: str) -> str:
    return "-".join(f"{int(p):02d}" for p in number.split(".")) + ".txt"


def build_debian(root_ko: Path, root_en: Path) -> tuple[list[Entry], dict]:
    ko_dir = root_ko / FAQ_KO_DIR
    en_dir = root_en / FAQ_EN_DIR
    ko = debian_sections(ko_dir, "ko")
    en = debian_sections(en_dir, "en")

    # Alignment: the two translations must have the same sections, in the same order,
    # with the same anchor ids and numbers.
    if [(s.sid, s.number) for s in ko] != [(s.sid, s.number) for s in en]:
        raise SystemExit("debian-faq and debian-faq-ko sections are not aligned")
    en_by_number = {s.number: s for s in en}

    # Footnote bodies, by id, from every Korean chapter file.
    footnotes: dict[str, Tag] = {}
    for name in DEBIAN_CHAPTERS:
        soup = read_html(ko_dir / f"{name}.ko.html")
        for fn in soup.select("div.footnotes div.footnote[id]"):
            footnotes[str(fn["id"])] = fn

    # Rule: a section is a question iff its English heading contains "?".
    is_question = {s.number: "?" in en_by_number[s.number].title for s in ko}

    def question_ancestor(number: str) -> str | None:
        parts = number.split(".")
        for k in range(len(parts) - 1, 0, -1):
            cand = ".".join(parts[:k])
            if is_question.get(cand):
                return cand
        return None

    entries: dict[str, Entry] = {}
    blocks_by_q: dict[str, list[str]] = {}
    renderers: dict[str, DebianRenderer] = {}
    stats = {
        "sections": len(ko),
        "questions": 0,
        "merged": [],
        "dropped": [],
        "question_en": [],
        "english_answers": [],
        "empty": [],
        "footnotes": [],
    }
    for s in ko:
        if is_question[s.number]:
            r = DebianRenderer(footnotes)
            renderers[s.number] = r
            blocks_by_q[s.number] = section_own_blocks(s.div, r)
            stats["questions"] += 1
            kind = "question" if has_hangul(s.title) else "question-en"
            if kind == "question-en":
                stats["question_en"].append(s.number)
            entries[s.number] = Entry(
                doc=doc_name_from_number(s.number),
                group=s.number.split(".")[0],
                text="",
                queries=[(s.title, kind)],
                queries_en=[(en_by_number[s.number].title, "question")],
            )
        else:
            anc = question_ancestor(s.number)
            if anc is None:
                stats["dropped"].append(s.number)
                continue
            r = renderers[anc]
            # Sub-section that is not a question: its heading (without number) and body
            # become part of the nearest question ancestor's answer.
            blocks_by_q[anc].append(s.title)
            blocks_by_q[anc].extend(section_own_blocks(s.div, r))
            stats["merged"].append(f"{s.number}->{anc}")

    out: list[Entry] = []
    for number, entry in entries.items():
        r = renderers[number]
        blocks = list(blocks_by_q[number])
        for fid in r.used_footnotes:
            fn_blocks = r.blocks(footnotes[fid])
            blocks.extend(fn_blocks)
            stats["footnotes"].append(f"{fid}->{number}")
        text = join_blocks(blocks)
        if not text.strip():
            stats["empty"].append(number)
            continue
        if hangul_share(text) < MOSTLY_ENGLISH:
            stats["english_answers"].append(number)
        entry.text = text
        entry.code = list(r.code_texts)
        out.append(entry)
    stats["section_numbers"] = {s.number for s in ko}
    return out, stats


# ---------------------------------------------------------------------- Python FAQ


class SphinxRenderer(Renderer):
    XREF_PLACEHOLDER = "another FAQ entry"

    def __init__(self, question_titles: set[str] | None = None):
        super().__init__()
        self.question_titles = question_titles or set()
        self.replaced_xrefs: list[str] = []

    def skip(self, tag: Tag) -> bool:
        if super().skip(tag):
            return True
        cls = classes(tag)
        return "headerlink" in cls or "linenos" in cls

    def inline_special(self, tag: Tag) -> str | None:
        if tag.name == "a" and "internal" in classes(tag):
            # A link whose text is the heading of another FAQ question would put that
            # question (a query) verbatim into this answer: replace its text.
            text = norm_ws(tag.get_text())
            if text in self.question_titles:
                self.replaced_xrefs.append(text)
                return self.XREF_PLACEHOLDER
        return None


def python_leaves(soup: BeautifulSoup, page: str):  # type: ignore[no-untyped-def]
    """(section, heading tag, heading text, is_leaf) for every non-page section."""
    body = soup.find("div", class_="body") or soup.find(attrs={"role": "main"})
    if body is None:
        raise SystemExit(f"{page}.html: no document body")
    plain = SphinxRenderer()
    for sec in body.find_all("section"):
        head = sec.find(["h1", "h2", "h3", "h4", "h5", "h6"], recursive=False)
        if head is None:
            raise SystemExit(f"{page}.html: section without heading")
        if head.name == "h1":
            continue  # the page itself
        yield sec, head, norm_ws(plain.inline(head)), sec.find("section") is None


def build_python(root: Path) -> tuple[list[Entry], dict]:
    faq = root / PY_FAQ_DIR
    soups = {page: read_html(faq / f"{page}.html") for page in PYTHON_PAGES}
    titles = {t for p in PYTHON_PAGES for _, _, t, leaf in python_leaves(soups[p], p) if leaf}
    out: list[Entry] = []
    stats: dict = {
        "categories": [], "category_text": [], "empty": [], "pages": {}, "xrefs": [],
    }  # fmt: skip
    for page in PYTHON_PAGES:
        n = 0
        for sec, head, title, leaf in python_leaves(soups[page], page):
            if not leaf:
                # A category heading ("Core Language"), not a question.
                stats["categories"].append(f"{page}: {title}")
                own = [
                    c for c in sec.children
                    if isinstance(c, Tag) and c.name not in ("section",) and c is not head
                ]  # fmt: skip
                if any(norm_ws(c.get_text()) for c in own):
                    stats["category_text"].append(f"{page}: {title}")
                continue
            r = SphinxRenderer(titles - {title})
            text = join_blocks(r.blocks_of(c for c in sec.children if c is not head))
            if not text.strip():
                # A heading with nothing under it (a category heading placed as a
                # sibling of its questions): not a question, and not numbered.
                stats["empty"].append(f"{page}: {title}")
                continue
            n += 1
            doc = f"{page}-{n:03d}.txt"
            stats["xrefs"].extend(f'`{doc}`: "{x}"' for x in r.replaced_xrefs)
            entry = Entry(doc=doc, group=page, text=text, queries=[(title, "question")])
            entry.code = list(r.code_texts)
            out.append(entry)
        stats["pages"][page] = n
    return out, stats


# -------------------------------------------------------------------- exact tokens

TOKEN = re.compile(r"/?[A-Za-z0-9_](?:[A-Za-z0-9_./-]*[A-Za-z0-9_])?")


def candidate_tokens(text: str, code: list[str]) -> list[str]:
    """Identifier/number-like tokens of a text, in order of first occurrence.

    Whitespace-separated chunks that look like URLs or e-mail addresses ("://", "www.",
    "@") are skipped; in the other chunks, maximal runs of [A-Za-z0-9_./-] that start
    with [A-Za-z0-9_] (or one "/" and then that) and end with [A-Za-z0-9_] are tokens.
    A token qualifies if it has at least 4 characters and contains a digit or an inner
    "_" or "."; or if it contains an inner "-" or "/" and also occurs inside code
    markup of the same answer (`code`), which keeps package names and paths but not
    English compounds such as "non-profit" or "begin/end".
    """
    seen: dict[str, None] = {}
    for chunk in text.split():
        if "://" in chunk or "www." in chunk or "@" in chunk:
            continue
        for m in TOKEN.finditer(chunk):
            tok = m.group(0)
            if len(tok) < EXACT_MIN_LEN:
                continue
            inner = tok[1:-1]
            if any(ch.isdigit() for ch in tok) or "_" in inner or "." in inner:
                seen.setdefault(tok, None)
            elif ("-" in inner or "/" in inner) and any(tok in c for c in code):
                seen.setdefault(tok, None)
    return list(seen)


def pick_exact(
    entries: list[Entry], question_texts: list[str], excluded: set[str], groups: list[str]
) -> list[tuple[str, Entry]]:
    """Deterministic choice of kind=exact queries.

    A token is eligible if (case-insensitively) it is a substring of exactly one doc's
    text, of no question text of the set, and is not in `excluded`. Groups (chapters or
    pages) are visited round-robin in order; each visit takes the first eligible token,
    in source order of the docs then text order, from a doc of that group not used yet, until
    EXACT_TARGET tokens are chosen.
    """
    lowered = [e.text.lower() for e in entries]
    qlow = [q.lower() for q in question_texts]

    def eligible(tok: str) -> bool:
        t = tok.lower()
        if tok in excluded or any(t in q for q in qlow):
            return False
        return sum(1 for d in lowered if t in d) == 1

    per_group: dict[str, list[tuple[str, Entry]]] = {g: [] for g in groups}
    for e in entries:
        for tok in candidate_tokens(e.text, e.code):
            if eligible(tok):
                per_group[e.group].append((tok, e))
    chosen: list[tuple[str, Entry]] = []
    used_docs: set[str] = set()
    used_toks: set[str] = set()
    cursor = {g: 0 for g in groups}
    while len(chosen) < EXACT_TARGET:
        progressed = False
        for g in groups:
            if len(chosen) >= EXACT_TARGET:
                break
            cands = per_group[g]
            while cursor[g] < len(cands):
                tok, e = cands[cursor[g]]
                cursor[g] += 1
                if e.doc in used_docs or tok.lower() in used_toks:
                    continue
                chosen.append((tok, e))
                used_docs.add(e.doc)
                used_toks.add(tok.lower())
                progressed = True
                break
        if not progressed:
            break
    return chosen


# ------------------------------------------------------------------------- writing


def check_field(text: str) -> str:
    if not text or "\t" in text or "\n" in text or "\r" in text:
        raise SystemExit(f"bad qrels field: {text!r}")
    return text


def write_qrels(path: Path, rows: list[tuple[str, str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    lines = [HEADER]
    for q, rel, kind in rows:
        if (q, rel) in seen:
            continue
        seen.add((q, rel))
        lines.append(f"{check_field(q)}\t{check_field(rel)}\t{check_field(kind)}\n")
    path.write_text("".join(lines), encoding="utf-8", newline="\n")


def write_docs(set_dir: Path, entries: list[Entry]) -> None:
    docs = set_dir / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir(parents=True)
    for e in entries:
        (docs / e.doc).write_text(e.text, encoding="utf-8", newline="\n")


def kind_counts(rows: list[tuple[str, str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, kind in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def counts_md(rows: list[tuple[str, str, str]]) -> str:
    distinct = len({q for q, _, _ in rows})
    parts = ", ".join(f"`{k}` {v}" for k, v in kind_counts(rows).items())
    return f"{len(rows)} lines, {distinct} distinct queries ({parts})"


# ------------------------------------------------------------------------ packages


@dataclass
class Package:
    name: str
    version: str
    deb: str  # file name
    sha256: str
    root: Path  # extracted tree


def download(dest: Path) -> None:
    for name, version in PINNED.items():
        res = subprocess.run(
            ["apt-get", "download", f"{name}={version}"], cwd=dest, capture_output=True,
            text=True,
        )  # fmt: skip
        if res.returncode != 0:
            print(
                f"warning: {name}={version} not downloadable ({res.stderr.strip()[:200]});"
                " using the current candidate",
                file=sys.stderr,
            )
            subprocess.run(["apt-get", "download", name], cwd=dest, check=True)


def find_deb(debs: Path, name: str) -> Path:
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        raise SystemExit(f"no {name}_*.deb in {debs}")
    pinned = [p for p in found if p.name.startswith(f"{name}_{PINNED[name].split(':')[-1]}_")]
    if pinned:
        return pinned[0]
    pinned = [p for p in found if _deb_field(p, "Version") == PINNED[name]]
    if pinned:
        return pinned[0]
    if len(found) > 1:
        raise SystemExit(f"several {name} debs in {debs} and none is {PINNED[name]}")
    print(f"warning: using {found[0].name}, not version {PINNED[name]}", file=sys.stderr)
    return found[0]


def _deb_field(deb: Path, fld: str) -> str:
    res = subprocess.run(["dpkg-deb", "-f", str(deb), fld], capture_output=True, text=True)
    return res.stdout.strip()


def extract(deb: Path, work: Path, name: str) -> Package:
    root = work / f"x-{name}"
    root.mkdir()
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    if _deb_field(deb, "Package") != name:
        raise SystemExit(f"{deb.name} is not package {name}")
    return Package(
        name=name,
        version=_deb_field(deb, "Version"),
        deb=deb.name,
        sha256=hashlib.sha256(deb.read_bytes()).hexdigest(),
        root=root,
    )


# ---------------------------------------------------------------------- SOURCE.md


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join((prefix + ln) if ln.strip() else "" for ln in text.rstrip().split("\n"))


def pkg_line(p: Package) -> str:
    return f"- `{p.name}` version `{p.version}` (`{p.deb}`, sha256 `{p.sha256}`)"


def spi_notice(pkg: Package) -> str:
    text = (pkg.root / FAQ_COPYRIGHT).read_text(encoding="utf-8")
    start = text.index("The copyright and license statement")
    return text[start:].strip()


def debian_source_md(
    ko: Package, en: Package, entries: list[Entry], stats: dict, rows, rows_en, exact
) -> str:
    q_en = ", ".join(stats["question_en"]) or "none"
    eng_ans = ", ".join(stats["english_answers"]) or "none"
    merged = ", ".join(stats["merged"]) or "none"
    dropped = ", ".join(stats["dropped"]) or "none"
    empty = ", ".join(stats["empty"]) or "none"
    fns = ", ".join(stats["footnotes"]) or "none"
    exact_list = "\n".join(f"- `{t}` -> `{e.doc}` (chapter {e.group})" for t, e in exact)
    size = sum(len(e.text.encode("utf-8")) for e in entries)
    return f"""# debian-faq-ko: Korean Debian FAQ retrieval set

## Source

{pkg_line(ko)}: the Debian GNU/Linux FAQ in Korean,
  `/{FAQ_KO_DIR}/*.ko.html` (the documents and the Korean queries).
{pkg_line(en)}: the same FAQ in English,
  `/{FAQ_EN_DIR}/*.en.html` (only its headings: the English queries of `qrels-en.tsv`,
  and the question/non-question rule below).

Both packages come from Debian bookworm (`main`). The Korean FAQ's title page says
"버전 11.0" and "저작권 © 1996-2021 Software in the Public Interest".

## Licence

The FAQ is distributed under the permission notice below (from
`/usr/share/doc/debian-faq-ko/copyright`, identical in `debian-faq`). The files in this
folder are a modified version (excerpts, re-formatted as plain text) and are
distributed under the same notice.

{indent(spi_notice(ko))}

## How the set was derived (`evalsets/build.py`)

- Sections: every `div.section` of the chapter pages, with its number from the heading
  ("7.12. ..."). The Korean and English packages have the same {stats["sections"]}
  sections with the same anchor ids and numbers in the same order; the build checks
  this entry by entry and stops if they differ.
- Question rule: a section is a question iff its **English** heading contains `?`.
  That gives {stats["questions"]} questions. Sections that are not questions are:
  - merged into the nearest ancestor that is a question (their heading, without its
    number, becomes a line of that answer): {merged};
  - dropped when no ancestor is a question (chapter 15, plans for the next release,
    and chapter 16, about the FAQ itself): {dropped}.
- Documents: `docs/NN-MM[-KK[-LL]].txt`, one per question, named by section number
  only. Content: the answer only (the question heading removed), i.e. the section's
  own paragraphs before any sub-section, plus merged non-question sub-sections; a
  question sub-section gets its own file. Text rendering: one paragraph per block,
  separated by blank lines, whitespace inside a paragraph collapsed; `<pre>` blocks
  (commands, file excerpts) kept line by line; list items start with `- `; table
  rows become one line with cells joined by ` | `. Cross-references such as
  `12.1절. “<heading of 12.1>”` are reduced to `12.1절`, so no document contains the
  heading (the query) of another entry. Footnotes (at the end of a chapter page in the
  HTML) are appended to the answer that cites them: {fns}. Chapter introductions
  before the first section are not used.
- Empty answers skipped: {empty}.
- The Korean translation is partial. Answers left (mostly) in English, i.e. Hangul
  syllables under {MOSTLY_ENGLISH:.0%} of all Hangul syllables and Latin letters (code
  and package lists count as Latin): {eng_ans}. For those with a Korean heading, the
  Korean query has to find an English answer.

## Queries

- `qrels.tsv`, kind `question`: the Korean heading with its number removed and
  whitespace collapsed, paired with its own answer file.
- kind `question-en`: the same for headings left untranslated in the Korean FAQ (no
  Hangul in the heading): {q_en}.
- `qrels-en.tsv` (cross-lingual bonus): the **English** heading of the same section
  number (from `debian-faq`), kind `question`, paired with the **Korean** answer file.
- kind `exact` (in both files, same lines): see the rule below.

{exact_rule_md("chapter")}

Chosen:

{exact_list}

## Counts

- Documents: {len(entries)} files, {size} bytes of UTF-8 text.
- `qrels.tsv`: {counts_md(rows)}.
- `qrels-en.tsv`: {counts_md(rows_en)}.
"""


def exact_rule_md(group: str) -> str:
    return f"""Rule for `exact` queries (mechanical, in `build.py`; no search engine was consulted):

1. Split each answer text on whitespace; skip chunks containing `://`, `www.` or `@`
   (URLs, e-mail addresses). In the other chunks take the maximal runs of
   `[A-Za-z0-9_./-]` that start and end with `[A-Za-z0-9_]` (so Korean particles and
   punctuation around an identifier are not part of it).
2. A token qualifies if it has at least {EXACT_MIN_LEN} characters and contains a digit or
   an inner `-`, `_`, `.` or `/`.
3. It is eligible if, compared case-insensitively as a substring, it occurs in exactly
   one document of the set and in no question text of the set (for the Debian set:
   neither the Korean nor the English headings), and (Debian set) it is not itself a
   section number of the FAQ such as `12.1.1`.
4. Visit the {group}s round-robin in order; each visit takes the first eligible token
   (documents in source order, tokens in text order) from a document not used yet,
   until {EXACT_TARGET} are chosen. The query is the token itself, with its only
   document as the relevant file."""


def python_license(pkg: Package) -> tuple[str, str]:
    """(copyright lines, PSF licence agreement text) from the package's HTML."""
    soup = read_html(pkg.root / PY_COPYRIGHT_HTML)
    body = soup.find("div", class_="body") or soup
    cr = [norm_ws(p.get_text()) for p in body.find_all("p")]
    cr = [c for c in cr if c.startswith("Copyright ©") or c.startswith("Python and this")]
    soup = read_html(pkg.root / PY_LICENSE_HTML)
    sec = soup.find("section", id="psf-license-agreement-for-python-release")
    if sec is None:
        raise SystemExit("license.html: no PSF licence section")
    text = join_blocks(SphinxRenderer().blocks(sec))
    return "\n".join(cr), text


def python_source_md(pkg: Package, entries: list[Entry], stats: dict, rows, exact) -> str:
    copyright_lines, psf = python_license(pkg)
    exact_list = "\n".join(f"- `{t}` -> `{e.doc}` (page {e.group})" for t, e in exact)
    pages = ", ".join(f"`{p}` {n}" for p, n in stats["pages"].items())
    cats = "; ".join(stats["categories"]) or "none"
    cat_text = ", ".join(stats["category_text"]) or "none"
    empty = "; ".join(stats["empty"]) or "none"
    xrefs = ", ".join(stats["xrefs"]) or "none"
    size = sum(len(e.text.encode("utf-8")) for e in entries)
    multi: dict[str, list[str]] = {}
    for q, rel, kind in rows:
        if kind == "question":
            multi.setdefault(q, []).append(rel)
    dup = "; ".join(
        f"\"{q}\" -> {', '.join(f'`{d}`' for d in ds)}" for q, ds in multi.items() if len(ds) > 1
    ) or "none"  # fmt: skip
    return f"""# python-faq-en: English Python FAQ retrieval set

## Source

{pkg_line(pkg)}: the Python 3.11 documentation;
  only the FAQ pages `/{PY_FAQ_DIR}/{{{",".join(PYTHON_PAGES)}}}.html`.

## Licence

From the package's `copyright.html`:

{indent(copyright_lines)}

The Python documentation is distributed under the PSF License Agreement (the Debian
package's `/usr/share/doc/python3.11-doc/copyright` and the documentation's
`license.html`, "History and License"). The text of the agreement, as shipped in the
package's `license.html`:

{indent(psf)}

Summary of changes (PSF licence, clause 3): the FAQ pages were cut into one plain-text
file per question with the question heading removed; HTML markup, navigation,
permalinks and syntax highlighting were removed; nothing was reworded.

## How the set was derived (`evalsets/build.py`)

- Question rule: every `<section>` of a FAQ page that contains no nested `<section>`
  (a leaf) is a question; its heading is the query. Sections with nested sections are
  category headings and are not used: {cats}. Category headings with text of their own
  before their first question (that text is dropped): {cat_text}.
- Documents: `docs/<page>-<NNN>.txt`, `NNN` = 1-based position of the question in its
  page. Content: the section without its heading. Rendering: as for the Debian set
  (blank line between blocks, code blocks kept line by line, `- ` list items,
  ` | ` table cells); Sphinx permalink marks (`¶`) and line numbers removed.
- Questions per page: {pages}. Leaf sections with no text under the heading are not
  questions and get no number: {empty}.
- A question text that occurs on two pages is one query with two relevant files:
  {dup}.
- Internal links whose text is the heading of another question (which would put that
  question, a query, verbatim into this answer) are rendered as
  "{SphinxRenderer.XREF_PLACEHOLDER}": {xrefs}.

## Queries

- kind `question`: the heading text, whitespace collapsed, paired with its answer file.
- kind `exact`: see the rule below.

{exact_rule_md("page")}

Chosen:

{exact_list}

## Counts

- Documents: {len(entries)} files, {size} bytes of UTF-8 text.
- `qrels.tsv`: {counts_md(rows)}.
"""


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--debs", type=Path, help="folder with the .deb files (else apt-get download)")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: evalsets/)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="evalsets-") as tmp:
        work = Path(tmp)
        debs = args.debs
        if debs is None:
            debs = work / "debs"
            debs.mkdir()
            download(debs)
        pk = {name: extract(find_deb(debs, name), work, name) for name in PINNED}

        # ---- Debian FAQ (Korean docs, Korean + English queries)
        entries, stats = build_debian(pk["debian-faq-ko"].root, pk["debian-faq"].root)
        questions = [q for e in entries for q, _ in e.queries + e.queries_en]
        numbers = stats["section_numbers"]
        groups = sorted({e.group for e in entries}, key=int)
        exact = pick_exact(entries, questions, numbers, groups)
        rows = [(q, e.doc, k) for e in entries for q, k in e.queries]
        rows += [(t, e.doc, "exact") for t, e in exact]
        rows_en = [(q, e.doc, k) for e in entries for q, k in e.queries_en]
        rows_en += [(t, e.doc, "exact") for t, e in exact]
        d = args.out / "debian-faq-ko"
        write_docs(d, entries)
        write_qrels(d / "qrels.tsv", rows)
        write_qrels(d / "qrels-en.tsv", rows_en)
        (d / "SOURCE.md").write_text(
            debian_source_md(
                pk["debian-faq-ko"], pk["debian-faq"], entries, stats, rows, rows_en, exact
            ),
            encoding="utf-8",
            newline="\n",
        )
        print(f"debian-faq-ko: {len(entries)} docs; qrels {counts_md(rows)}")
        print(f"debian-faq-ko: qrels-en {counts_md(rows_en)}")

        # ---- Python FAQ
        entries, stats = build_python(pk["python3.11-doc"].root)
        questions = [q for e in entries for q, _ in e.queries]
        exact = pick_exact(entries, questions, set(), PYTHON_PAGES)
        rows = [(q, e.doc, k) for e in entries for q, k in e.queries]
        rows += [(t, e.doc, "exact") for t, e in exact]
        d = args.out / "python-faq-en"
        write_docs(d, entries)
        write_qrels(d / "qrels.tsv", rows)
        (d / "SOURCE.md").write_text(
            python_source_md(pk["python3.11-doc"], entries, stats, rows, exact),
            encoding="utf-8",
            newline="\n",
        )
        print(f"python-faq-en: {len(entries)} docs; qrels {counts_md(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
