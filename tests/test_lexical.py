"""Lexical analysis: terms and FTS5 MATCH expressions, against a real FTS5 table."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchengine import lexical
from searchengine.lexical import (
    MAX_QUERY_UNITS,
    analyze,
    index_text,
    match_expression,
    query_terms,
)

FTS_DDL = (
    "CREATE VIRTUAL TABLE chunks USING fts5(terms, tokenize = 'unicode61 remove_diacritics 2')"
)

HOSTILE = [
    '"',
    '""',
    '"unterminated',
    "*",
    "foo*",
    "-foo",
    "a - b",
    "AND",
    "OR",
    "NOT",
    "a AND b",
    "NEAR(a b, 3)",
    "NEAR",
    "(",
    ")",
    "(a OR b",
    "terms:foo",
    "col:",
    ":",
    "^foo",
    "+",
    "a + b",
    "{terms}: x",
    "'; DROP TABLE chunks; --",
    "\x00",
    "\\",
    '자동차를 "사려면" AND (보험*)',
    "🙂",
    "\u200b",
    "ᄌᆞ",
]


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(FTS_DDL)
    conn.execute("CREATE VIRTUAL TABLE vocab USING fts5vocab(chunks, 'instance')")
    yield conn
    conn.close()


def _add(db: sqlite3.Connection, *texts: str) -> None:
    db.executemany(
        "INSERT INTO chunks(rowid, terms) VALUES (?, ?)",
        [(i, index_text(t)) for i, t in enumerate(texts, 1)],
    )


def _search(db: sqlite3.Connection, query: str) -> list[int]:
    expression = match_expression(query)
    if expression is None:
        return []
    rows = db.execute("SELECT rowid FROM chunks WHERE chunks MATCH ? ORDER BY rank", (expression,))
    return [r[0] for r in rows]


def _fts_tokens(db: sqlite3.Connection, text: str) -> list[str]:
    db.execute("DELETE FROM chunks")
    db.execute("INSERT INTO chunks(rowid, terms) VALUES (1, ?)", (text,))
    return [r[0] for r in db.execute("SELECT term FROM vocab ORDER BY offset")]


def _terms(text: str) -> list[str]:
    return [t.term for t in analyze(text)]


# --- Korean -----------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["자동차를", "자동차가", "자동차의", "자동차는", "자동차에서"])
def test_a_noun_with_any_particle_is_the_noun(word: str) -> None:
    assert _terms(word) == ["자동차"]


def test_inflected_verbs_share_their_dictionary_form() -> None:
    assert _terms("먹었다") == _terms("먹는") == _terms("먹고") == ["먹다"]
    assert _terms("걸어서") == _terms("걷는") == ["걷다"]  # irregular ㄷ
    assert _terms("아름다운") == ["아름답다"]  # irregular ㅂ


def test_a_verb_stem_does_not_collide_with_a_noun() -> None:
    assert "사다" in _terms("자동차를 샀습니다")
    assert "사" not in _terms("자동차를 샀습니다")


def test_a_compound_noun_matches_each_part() -> None:
    assert {"자동차", "보험"} <= set(_terms("자동차보험"))


@pytest.mark.parametrize("query", ["국회의원", "국회 의원", "국회 의원이 되려면"])
def test_neighbouring_nouns_are_also_asked_as_a_phrase(query: str) -> None:
    assert match_expression(query) == '"국회" OR "의원" OR "국회 의원"'


@pytest.mark.parametrize(
    "query", ["국회의 의원", "국회에서 일하는 의원", "국회\n의원", "국회. 의원"]
)
def test_nouns_apart_in_a_query_make_no_phrase(query: str) -> None:
    expression = match_expression(query)
    assert expression is not None
    assert '"국회"' in expression
    assert '"의원"' in expression
    assert '"국회 의원"' not in expression


def test_a_chunk_stores_its_nouns_alone_so_older_indexes_answer_the_phrase() -> None:
    assert index_text("국회의원 선거") == index_text("국회 의원 선거") == "국회 의원 선거"


@pytest.mark.parametrize(
    ("query", "text"),
    [("국회의원", "국회 의원 선거 일정 안내"), ("국회 의원", "국회의원 선거 일정 안내")],
)
def test_nouns_side_by_side_rank_first_spaced_or_not(
    db: sqlite3.Connection, query: str, text: str
) -> None:
    # both texts hold both nouns, only the second side by side: without the phrase the
    # shorter first ranks above it (the others give the terms their idf)
    _add(db, "국회에서 일하는 의원", text, "강아지 산책 요령", "소방 점검 안내", "연차 휴가 신청")
    assert _search(db, query) == [2, 1]


def test_noun_plus_hada_keeps_the_noun_only() -> None:
    assert _terms("공부했다") == _terms("공부하는") == ["공부"]


@pytest.mark.parametrize("query", ["을", "을 를", "은 는 이 가", "에서", "했다", "그리고", "?!"])
def test_a_query_of_particles_or_function_words_has_no_terms(query: str) -> None:
    assert query_terms(query) == []
    assert match_expression(query) is None


def test_offsets_point_at_the_source_in_mixed_text() -> None:
    text = (
        "Intro: USB를 3개의 dpkg-divert를\n\n사용했다 — 자동차\t보험, 東京 Café 😀자동차가 달렸다."
    )
    got = [(t.term, text[t.start : t.end]) for t in analyze(text)]
    assert got == [
        ("intro", "Intro"),
        ("usb", "USB"),
        ("3", "3"),
        ("dpkg", "dpkg"),
        ("divert", "divert"),
        ("사용", "사용"),
        ("자동차", "자동차"),
        ("보험", "보험"),
        ("東", "東"),
        ("京", "京"),
        ("cafe", "Café"),
        ("자동차", "자동차"),
        ("달리다", "달렸"),
    ]


def test_decomposed_hangul_is_analysed_and_offsets_cover_the_jamo() -> None:
    nfc = "처음 자동차를 샀다"
    nfd = unicodedata.normalize("NFD", nfc)
    assert len(nfd) > len(nfc)
    terms = analyze(nfd)
    assert [t.term for t in terms] == _terms(nfc)
    for t in terms:
        assert unicodedata.normalize("NFC", nfd[t.start : t.end]) in {"처음", "자동차", "샀"}


def test_invisible_characters_do_not_shift_korean_offsets() -> None:
    # kiwi drops a zero-width space and shifts its offsets; we hand it a space instead
    text = "자동차\u200b보험\u00a0자동차\ufeff를"
    got = [(t.term, text[t.start : t.end]) for t in analyze(text)]
    assert got == [("자동차", "자동차"), ("보험", "보험"), ("자동차", "자동차")]


def test_multi_word_titles_are_not_one_term() -> None:
    assert {"해리", "포터", "마법사"} <= set(_terms("해리 포터와 마법사의 돌"))


@pytest.mark.subprocess
def test_english_text_never_loads_kiwi() -> None:
    code = (
        "import sys; from searchengine.lexical import index_text, match_expression;"
        "from searchengine.query.snippets import snippet;"
        "index_text('Running cars'); match_expression('dpkg-divert'); snippet('a b', 'b');"
        "print('kiwipiepy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.subprocess
def test_warm_up_analyses_korean_in_a_helper_process_for_korean_only() -> None:
    """A one-shot Korean search loads kiwi in a helper process (its load holds the GIL,
    so a thread overlapped nothing); the helper's terms are the in-process ones."""
    code = (
        "import sys; from searchengine import lexical, korean\n"
        "lexical.warm_up('walking my puppy')\n"
        "english = lexical._kiwi is None and 'kiwipiepy' not in sys.modules\n"
        "lexical.warm_up('승용차를 사려면')\n"
        "helper = isinstance(lexical._kiwi, korean.KiwiProcess)\n"
        "terms = lexical.index_text('처음 자동차를 샀습니다. 강아지와 걸어요')\n"
        "print(english, helper, 'kiwipiepy' not in sys.modules, terms, sep='|')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    english, helper, not_here, terms = out.stdout.strip().split("|")
    assert (english, helper, not_here) == ("True", "True", "True")
    assert terms == index_text("처음 자동차를 샀습니다. 강아지와 걸어요")


def test_a_helper_that_dies_leaves_the_analysis_to_this_process() -> None:
    from searchengine import korean

    helper = korean.KiwiProcess()
    try:
        assert helper._proc is not None
        first = helper.tokenize("자동차를 샀다")
        helper._proc.kill()
        helper._proc.wait()
        assert helper.tokenize("자동차를 샀다") == first  # now from kiwi in this process
        assert helper._proc is None and helper._local is not None
    finally:
        helper.close()


def test_a_query_is_analysed_when_its_terms_are_first_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`analyse_query` makes the record without kiwi: a search reads the terms after it
    has encoded the query, so kiwi's load in a helper overlaps the text model's."""
    from searchengine import korean

    seen: list[str] = []
    real = korean.tokens

    def counting(kiwi, text):  # type: ignore[no-untyped-def]
        seen.append(text)
        return real(kiwi, text)

    monkeypatch.setattr(korean, "tokens", counting)
    query = lexical.analyse_query("승용차를 사려면 dpkg-divert")
    assert seen == [] and query.exact  # `exact` needs no analysis
    assert query.words == ("승용차", "사다", "dpkg", "divert")
    assert query.korean == ("승용차", "사다")
    expression, terms = query.expression, query.terms
    assert seen == ["승용차를 사려면"]  # once, whatever was read
    assert expression == match_expression(query.text)
    assert terms == tuple(analyze(query.text))


def test_text_whose_words_cannot_match_never_waits_for_kiwi(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snippet's Hangul words that cannot hold a wanted term are not sent to kiwi: with
    none left, kiwi (perhaps still loading in its helper) is not asked at all."""

    def no_kiwi() -> None:
        raise AssertionError("kiwi was asked")

    monkeypatch.setattr(lexical, "_get_kiwi", no_kiwi)
    assert lexical.matching_terms("강아지와 산책을 나갔다 dog walk", {"자동차", "walk"}) == [
        lexical.Term("walk", 17, 21)
    ]


def test_kiwi_loads_once_across_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(index_text, ["자동차를 샀다"] * 8))
        kiwis = set(pool.map(lambda _: id(lexical._get_kiwi()), range(8)))
    assert set(results) == {"자동차 사다"}
    assert len(kiwis) == 1


# --- other scripts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "term"),
    [
        ("cars", "car"),
        ("classes", "class"),
        ("boxes", "box"),
        ("studies", "studi"),
        ("study", "studi"),
        ("running", "run"),
        ("runs", "run"),
        ("hoping", "hope"),
        ("hoped", "hope"),
        ("used", "us"),
        ("use", "us"),
        ("controlled", "control"),
        ("agreed", "agre"),
        ("string", "string"),
        ("thing", "thing"),
        ("Windows", "window"),
        ("is", "is"),
        ("ＡＢＣ", "abc"),
        ("Café", "cafe"),
        ("ﬁles", "file"),
        ("STRASSE", "strass"),
        ("Straße", "strass"),
    ],
)
def test_words_are_casefolded_and_lightly_stemmed(word: str, term: str) -> None:
    assert _terms(word) == [term]


def test_identifiers_split_into_their_parts() -> None:
    assert _terms("dpkg-divert") == ["dpkg", "divert"]
    assert _terms("/etc/apt/sources.list") == ["etc", "apt", "sourc", "list"]
    assert _terms("os.path.join") == ["os", "path", "join"]
    assert _terms("__slots__") == ["slot"]
    assert _terms("v2.3.1") == ["v2", "3", "1"]


def test_han_and_kana_are_one_term_per_character() -> None:
    assert _terms("東京都に行く") == ["東", "京", "都", "に", "行", "く"]


# --- MATCH expressions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("dpkg-divert", '"dpkg divert"'),
        ("/etc/apt/sources.list", '"etc apt sourc list"'),
        ("os.path.join", '"os path join"'),
        ("__slots__", '"slot"'),
        ("v2.3.1 release", '"v2 3 1" OR "releas"'),
        ("dpkg divert", '"dpkg" OR "divert"'),
        ("자동차를 사려면", '"자동차" OR "사다"'),
        ("USB를 dpkg-divert로", '"usb" OR "dpkg divert"'),
        ("cars car CARS", '"car"'),
        ("東京", '"東 京"'),
        ("東京都", '"東 京" OR "京 都"'),
        ("iPhoneを買う", '"iphon を" OR "を 買" OR "買 う"'),
        ("how do I install the package", '"instal" OR "packag"'),
        ("The Who", '"the" OR "who"'),  # stop words alone are still searched
        ("to be or not to be", '"to" OR "be" OR "or" OR "not"'),
        ("the os.path of it", '"os path"'),
    ],
)
def test_match_expressions(query: str, expression: str) -> None:
    assert match_expression(query) == expression


@pytest.mark.parametrize("query", ["", "   ", "!!!", "-- * ()", "\n\t", "\x00"])
def test_a_query_without_terms_has_no_expression(query: str) -> None:
    assert match_expression(query) is None


def test_identifier_parts_must_be_adjacent(db: sqlite3.Connection) -> None:
    _add(db, "run dpkg-divert --add to move it", "divert the traffic, then run dpkg")
    assert _search(db, "dpkg-divert") == [1]
    assert set(_search(db, "dpkg divert")) == {1, 2}


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_literal_text(db: sqlite3.Connection, query: str) -> None:
    _add(db, "foo bar NEAR AND terms col", "자동차 보험")
    _search(db, query)  # must not raise sqlite3.OperationalError


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text()
    | st.text(st.sampled_from(list('"*-:()^+{}., ANDORNEARnot자동차를샀다東京\n\t\\')), max_size=40)
)
def test_no_query_raises_an_fts5_error(db: sqlite3.Connection, query: str) -> None:
    _search(db, query)


def test_a_long_query_is_capped(db: sqlite3.Connection) -> None:
    query = " ".join(f"word{i} x{i}-y{i}" for i in range(1000))
    expression = match_expression(query)
    assert expression is not None
    assert expression.count(" OR ") == MAX_QUERY_UNITS - 1
    _search(db, query)


def test_korean_query_ranks_the_document_with_its_noun_first(db: sqlite3.Connection) -> None:
    _add(
        db,
        "Choosing a car: budget, insurance and taxes.",
        "강아지와 산책할 때는 목줄을 꼭 챙기세요. 산책 후에는 발을 닦아 주세요.",
        "처음 자동차를 살 때는 차량 가격만 보고 결정하기 쉽지만 자동차 보험료도 확인하세요.",
        "중고차를 고를 때는 사고 이력을 확인하세요.",
    )
    assert _search(db, "자동차를 사려면")[0] == 3


def test_more_matched_terms_rank_higher(db: sqlite3.Connection) -> None:
    _add(db, "apt sources only", "apt sources list for dpkg", "nothing here")
    assert _search(db, "dpkg apt sources") == [2, 1]


# --- index text and FTS5 tokenization ---------------------------------------------------

MIXED = (
    "Intro: USB를 3개의 dpkg-divert를 사용했다.\n東京 Café ＡＢＣ ﬁle Ⅻ ½ İstanbul ΣΊΣΥΦΟΣ\n"
    "자동차\u200b보험 😀 __slots__ v2.3.1 ᄌᆞ ㅋㅋㅋ Ünïcödé naïve façade ᦰ"
)


def test_fts5_splits_index_text_exactly_at_its_spaces(db: sqlite3.Connection) -> None:
    text = index_text(MIXED)
    assert _fts_tokens(db, text) == text.split(" ")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=60))
def test_fts5_agrees_with_our_terms_for_any_text(db: sqlite3.Connection, text: str) -> None:
    indexed = index_text(text)
    assert _fts_tokens(db, indexed) == (indexed.split(" ") if indexed else [])


def test_terms_are_letters_and_digits_only() -> None:
    for t in analyze(MIXED):
        assert t.term.isalnum() and t.term == t.term.casefold()


@pytest.mark.parametrize(("query", "first"), [("승용차", True), ("used car", False)])
@pytest.mark.subprocess
def test_a_korean_search_starts_kiwi_before_the_command_lines_imports(
    tmp_path, query: str, first: bool
) -> None:  # type: ignore[no-untyped-def]
    """`semsearch search 승용차` starts the Korean analyser (searchengine.korean) before it
    imports the command line (SQLAlchemy and the rest, ~0.5 s); an English one does not."""
    cmd = [sys.executable, "-X", "importtime", "-m", "searchengine"]
    cmd += ["--index", str(tmp_path / "none"), "search", query]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0  # no index there: the search itself fails, after the imports
    order = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line]
    korean = order.index("searchengine.korean") if "searchengine.korean" in order else len(order)
    assert (korean < order.index("sqlalchemy")) == first


@pytest.mark.subprocess
def test_the_korean_analyser_starts_before_numpy_is_imported() -> None:
    """start.py imports lexical to start kiwi's helper: numpy (through records) cost that
    0.1 s more before the helper, whose load is a Korean search's longest path (issue 30)."""
    code = "import sys, searchengine.lexical; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


SPANS_TEXT = "어제 자동차를 샀다. We were running late; 東京 café\u200b자동차"


def _plain(terms: list[lexical.Term]) -> list[tuple[str, int, int]]:
    return [(t.term, t.start, t.end) for t in terms]


def test_term_spans_give_back_each_term_where_analysis_found_it() -> None:
    found = analyze(SPANS_TEXT)
    spans = lexical.term_spans(found)
    assert spans is not None and spans[0] == 1  # every number fits a byte
    kept = lexical.stored_terms(index_text(SPANS_TEXT), spans, SPANS_TEXT)
    assert kept is not None and _plain(kept) == _plain(found)
    some = lexical.stored_terms(index_text(SPANS_TEXT), spans, SPANS_TEXT, {"자동차", "run"})
    assert some is not None
    assert [SPANS_TEXT[t.start : t.end] for t in some] == ["자동차", "running", "자동차"]


def test_term_spans_past_a_byte_take_16_bits() -> None:
    text = "자동차를 " + " " * 300 + "샀다 " + "가" * 70_000 + " 끝"
    found = [lexical.Term("자동차", 0, 3), lexical.Term("사다", 305, 306)]
    spans = lexical.term_spans(found)
    assert spans is not None and spans[0] == 2
    assert _plain(lexical.stored_terms("자동차 사다", spans, text) or []) == _plain(found)
    assert lexical.term_spans([lexical.Term("끝", 70_306, 70_307)]) is None  # past 16 bits
    assert lexical.stored_terms("", lexical.term_spans([]) or b"", "") == []


@pytest.mark.parametrize(
    ("terms", "spans", "text"),
    [
        ("자동차 사다", b"\x01\x00\x03", "자동차를 샀다"),  # fewer spans than terms
        ("자동차", b"\x01\x00\x03\x05\x01", "자동차를 샀다"),  # more
        ("자동차", b"\x02\x00\x00\x03", "자동차를 샀다"),  # not whole 16-bit numbers
        ("자동차", b"\x07\x00\x03", "자동차를 샀다"),  # no such format
        ("자동차", b"", "자동차를 샀다"),
        ("자동차", b"\x01\x05\x03", "자동차"),  # past the end of the text
    ],
)
def test_stored_terms_that_do_not_fit_their_text_are_refused(
    terms: str, spans: bytes, text: str
) -> None:
    assert lexical.stored_terms(terms, spans, text) is None
