"""The labelled retrieval sets in evalsets/ are well-formed (no models, fast).

Each set is `evalsets/<set>/docs/*.txt` plus one or more `qrels*.tsv` files:
UTF-8, header `query<TAB>relevant<TAB>kind`, one line per (query, relevant doc).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

EVALSETS = Path(__file__).resolve().parents[1] / "evalsets"
HEADER = ["query", "relevant", "kind"]
KINDS = {"question", "question-en", "exact"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")

# (set, qrels file, is a main set that needs >= 40 queries)
QRELS = [
    ("debian-faq-ko", "qrels.tsv", True),
    ("debian-faq-ko", "qrels-en.tsv", False),
    ("python-faq-en", "qrels.tsv", True),
]
DOC_NAME = {
    "debian-faq-ko": re.compile(r"^\d{2}(-\d{2}){1,3}\.txt$"),
    "python-faq-en": re.compile(r"^[a-z]+-\d{3}\.txt$"),
}


def read_qrels(path: Path) -> list[tuple[str, str, str]]:
    raw = path.read_bytes().decode("utf-8")  # strict: must be valid UTF-8
    assert raw.endswith("\n") and "\r" not in raw, path
    lines = raw[:-1].split("\n")
    assert lines[0].split("\t") == HEADER, f"{path}: bad header {lines[0]!r}"
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        assert len(cols) == 3, f"{path}:{n}: {len(cols)} columns"
        assert all(c and c == c.strip() for c in cols), f"{path}:{n}: empty/padded field"
        rows.append((cols[0], cols[1], cols[2]))
    return rows


def read_docs(set_name: str) -> dict[str, str]:
    docs_dir = EVALSETS / set_name / "docs"
    return {
        p.name: p.read_bytes().decode("utf-8") for p in sorted(docs_dir.iterdir()) if p.is_file()
    }


@pytest.fixture(scope="module", params=QRELS, ids=[f"{s}/{q}" for s, q, _ in QRELS])
def qrels(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    set_name, qrels_name, main = request.param
    rows = read_qrels(EVALSETS / set_name / qrels_name)
    return set_name, qrels_name, main, rows, read_docs(set_name)


def test_docs_are_plain_small_files() -> None:
    total = 0
    for set_name, pattern in DOC_NAME.items():
        docs = read_docs(set_name)
        assert len(docs) >= 40, set_name
        for name, text in docs.items():
            assert pattern.match(name), f"{set_name}: unexpected doc name {name}"
            assert text.strip() and text.endswith("\n"), f"{set_name}/{name}"
            total += len(text.encode("utf-8"))
    assert total < 1_000_000, f"docs take {total} bytes; keep the sets small"


def test_qrels_rows(qrels) -> None:  # type: ignore[no-untyped-def]
    set_name, qrels_name, main, rows, docs = qrels
    docs_dir = (EVALSETS / set_name / "docs").resolve()
    assert rows, qrels_name
    assert len(set((q, r) for q, r, _ in rows)) == len(rows), "duplicate (query, relevant)"
    for _q, rel, kind in rows:
        assert kind in KINDS, kind
        path = (docs_dir / rel).resolve()
        assert path.parent == docs_dir and path.is_file(), f"{set_name}: missing {rel}"
    distinct = {q for q, _, _ in rows}
    if main:
        assert len(distinct) >= 40, f"{set_name}/{qrels_name}: {len(distinct)} queries"


def test_every_doc_has_a_question(qrels) -> None:  # type: ignore[no-untyped-def]
    set_name, qrels_name, main, rows, docs = qrels
    relevant = {r for _, r, k in rows if k.startswith("question")}
    assert relevant == set(docs), sorted(set(docs) ^ relevant)[:10]


def test_exact_queries_hit_only_their_doc(qrels) -> None:  # type: ignore[no-untyped-def]
    set_name, qrels_name, main, rows, docs = qrels
    exact = [(q, r) for q, r, k in rows if k == "exact"]
    assert 8 <= len(exact) <= 12, len(exact)
    assert len({q for q, _ in exact}) == len(exact)
    for q, rel in exact:
        assert len(q) >= 4 and not any(c.isspace() for c in q), q
        assert q in docs[rel], f"{q!r} not verbatim in {rel}"
        others = [n for n, t in docs.items() if n != rel and q.lower() in t.lower()]
        assert not others, f"exact query {q!r} also in {others}"


def test_no_heading_leaks(qrels) -> None:  # type: ignore[no-untyped-def]
    """No question appears verbatim in its own answer (nor in any other doc)."""
    set_name, qrels_name, main, rows, docs = qrels
    lowered = {n: t.lower() for n, t in docs.items()}
    for q, rel, kind in rows:
        if not kind.startswith("question"):
            continue
        assert q.lower() not in lowered[rel], f"question leaked into its doc {rel}: {q!r}"
        hits = [n for n, t in lowered.items() if q.lower() in t]
        assert not hits, f"question {q!r} appears verbatim in {hits}"


def test_korean_set_queries_are_korean() -> None:
    rows = read_qrels(EVALSETS / "debian-faq-ko" / "qrels.tsv")
    questions = [(q, k) for q, _, k in rows if k != "exact"]
    korean = [q for q, k in questions if k == "question"]
    assert all(HANGUL.search(q) for q in korean)
    assert not any(HANGUL.search(q) for q, k in questions if k == "question-en")
    assert len(korean) >= 40 and len(korean) > 0.8 * len(questions)
    # The cross-lingual file asks the same docs in English.
    rows_en = read_qrels(EVALSETS / "debian-faq-ko" / "qrels-en.tsv")
    assert not any(HANGUL.search(q) for q, _, _ in rows_en)


# evalsets/office-ko: the debian-faq-ko answers written into office formats (its build.py)
OFFICE = EVALSETS / "office-ko"
OFFICE_FORMATS = {"docx", "pptx", "xlsx", "odt", "hwpx", "eml", "rtf", "epub", "pdf", "png", "jpg"}
DRAWN = (".pdf", ".png", ".jpg")  # pixels from the installed Pillow, FreeType, zlib, libjpeg
ZIPPED = {"docx", "pptx", "xlsx", "odt", "hwpx", "epub"}


def test_office_set_is_the_korean_set_in_office_formats() -> None:
    from collections import Counter
    from email import policy
    from email.parser import BytesParser

    rows = read_qrels(OFFICE / "qrels.tsv")
    source = read_qrels(EVALSETS / "debian-faq-ko" / "qrels.tsv")
    # the same queries and kinds, each relevant file the same answer under its new name
    assert [(q, Path(r).stem, k) for q, r, k in rows] == [
        (q, Path(r).stem, k) for q, r, k in source
    ]
    docs = {p.name: p for p in (OFFICE / "docs").iterdir()}
    assert {r for _, r, k in rows if k.startswith("question")} == set(docs), "qrels vs docs"
    txt = {p.stem for p in (EVALSETS / "debian-faq-ko" / "docs").glob("*.txt")}
    assert {Path(n).stem for n in docs} == txt
    counts = Counter(Path(n).suffix[1:] for n in docs)
    assert set(counts) == OFFICE_FORMATS and min(counts.values()) >= 10, counts
    total = 0
    for name, path in docs.items():
        data = path.read_bytes()
        total += len(data)
        fmt = Path(name).suffix[1:]
        if fmt in ZIPPED:
            assert data.startswith(b"PK\x03\x04"), name
        elif fmt == "rtf":
            assert data.startswith(b"{\\rtf1\\ansi\\ansicpg949") and data.isascii(), name
        elif fmt == "pdf":  # a scan: pictures only, no fonts, so no text layer
            assert data.startswith(b"%PDF-") and b"/DCTDecode" in data, name
            assert b"/Font" not in data, f"{name} has a text layer"
        elif fmt == "eml":
            mail = BytesParser(policy=policy.default).parsebytes(data)
            assert mail["Subject"] == Path(name).stem, name
        elif fmt == "png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        elif fmt == "jpg":
            assert data.startswith(b"\xff\xd8\xff"), name
    assert total < 4_500_000, f"office-ko takes {total} bytes; keep the set small"


def test_office_set_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    """build.py's output is what is committed (the pixels of the scans, screenshots and
    photos depend on the installed Pillow, FreeType, zlib, libjpeg and fonts-noto-cjk, so
    those are compared by name only)."""
    import importlib.util

    for writer in ("docx", "pptx", "openpyxl", "odf", "hwpforge", "numpy"):
        pytest.importorskip(writer)
    spec = importlib.util.spec_from_file_location("office_ko_build", OFFICE / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    if not build.FONT.is_file():
        pytest.skip("fonts-noto-cjk is not installed")
    build.build(tmp_path)
    assert (tmp_path / "qrels.tsv").read_bytes() == (OFFICE / "qrels.tsv").read_bytes()
    built = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert built == sorted(p.name for p in (OFFICE / "docs").iterdir())
    for name in built:
        if not name.endswith(DRAWN):
            fresh = (tmp_path / "docs" / name).read_bytes()
            assert fresh == (OFFICE / "docs" / name).read_bytes(), f"{name} differs"


# evalsets/libreoffice-help-ko: help page titles over their pages (its build.py)
LO = EVALSETS / "libreoffice-help-ko"
LO_KINDS = {"title", "title-in-text", "paraphrase"}
LO_DOC = re.compile(r"^s[a-z]+-\d{3}\.txt$")


def _lo_build():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("lo_help_build", LO / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build  # its dataclass looks itself up there
    spec.loader.exec_module(build)
    return build


def test_lo_help_set_has_a_korean_title_for_every_page() -> None:
    rows = read_qrels(LO / "qrels.tsv")
    docs = read_docs("libreoffice-help-ko")
    assert len({q for q, _, _ in rows}) >= 500, "big enough to tell a change from noise"
    assert len(set((q, r) for q, r, _ in rows)) == len(rows), "duplicate (query, relevant)"
    assert {k for _, _, k in rows} == LO_KINDS
    titles = [(q, r, k) for q, r, k in rows if k != "paraphrase"]
    assert sorted(r for _, r, _ in titles) == sorted(docs), "one title per page"
    assert len({q for q, _, _ in titles}) == len(titles), "a title has one answer"
    total = 0
    for name, text in docs.items():
        assert LO_DOC.match(name), name
        assert text.strip() and text.endswith("\n"), name
        total += len(text.encode("utf-8"))
    assert total < 1_000_000, f"docs take {total} bytes; keep the set small"
    for q, rel, kind in rows:
        assert HANGUL.search(q), q
        if kind != "paraphrase":  # the kind says whether the page repeats its title
            echoed = q.lower() in docs[rel].lower()
            assert echoed == (kind == "title-in-text"), (q, rel, kind)


def test_lo_help_paraphrases_point_at_guides_of_the_set() -> None:
    rows = read_qrels(LO / "qrels.tsv")
    sources = dict(
        line.split("\t") for line in (LO / "pages.tsv").read_text("utf-8").split("\n")[1:-1]
    )
    written = (LO / "paraphrases.tsv").read_text("utf-8").split("\n")[1:-1]
    paraphrases = [(q, r) for q, r, k in rows if k == "paraphrase"]
    assert len(paraphrases) == len(written) >= 50
    for (q, rel), line in zip(paraphrases, written, strict=True):
        assert line == f"{q}\t{sources[rel]}"
        assert "/guide/" in sources[rel], line


def test_lo_help_page_reader_drops_the_title_and_related_topics(tmp_path: Path) -> None:
    build = _lo_build()
    page = tmp_path / "text" / "swriter" / "guide" / "x.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<html><body><header>LibreOffice 7.4 Help</header><div id="DisplayArea">'
        "<h1>표 삽입</h1><p>표를 넣으려면 <span>삽입</span>을 고릅니다.</p>"
        "<table><tr><td>가</td><td>나</td></tr></table>"
        '<div class="relatedtopics"><p>관련 주제</p><a href="y">셀 병합</a></div>'
        "</div><footer>Title is: 표 삽입</footer></body></html>",
        encoding="utf-8",
    )
    got = build.read_page(page, tmp_path / "text")
    assert got == build.Page(
        "swriter/guide/x.html", "표 삽입", "표를 넣으려면 삽입을 고릅니다.\n가 | 나"
    )
    kept, why = build.select([got, build.Page("a/b.html", "Insert Table", "x" * 200)])
    assert kept == [] and why["title not Korean"] == 1 and why["answer under 150 characters"] == 1
