"""The labelled retrieval sets in evalsets/ are well-formed (no models, fast).

Each set is `evalsets/<set>/docs/*.txt` plus one or more `qrels*.tsv` files:
UTF-8, header `query<TAB>relevant<TAB>kind`, one line per (query, relevant doc).
"""

from __future__ import annotations

import re
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
