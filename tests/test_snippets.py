"""Snippets: the window around the query's terms and its highlight spans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchengine import lexical
from searchengine.catalog.schema import Chunk
from searchengine.lexical import AnalysedQuery, Term, analyse_query, analyze, query_terms
from searchengine.query.snippets import ELLIPSIS, Snippet, snippet

EVALSETS = Path(__file__).resolve().parents[1] / "evalsets"


def _terms(text: str) -> list[str]:
    return [t.term for t in analyze(text)]


CAR_TEXT = (
    "# 자동차 구입 가이드\n\n처음 자동차를 살 때는 차량 가격만 보고 결정하기 쉽지만, "
    "실제로 드는 비용은 훨씬 많습니다.\n계약 전에 아래 항목을 하나씩 확인해 보세요."
)


def _highlighted(s: Snippet) -> list[str]:
    return [s.text[a:b] for a, b in s.highlights]


def test_a_snippet_highlights_the_morpheme_not_the_particle() -> None:
    s = snippet("처음 자동차를 살 때는", "자동차")
    assert s.text == "처음 자동차를 살 때는"
    assert _highlighted(s) == ["자동차"]


def test_a_snippet_highlights_inflected_forms() -> None:
    s = snippet(CAR_TEXT, "자동차가 비싸서")
    assert _highlighted(s) == ["자동차", "자동차"]
    s = snippet("We were running late; the runs were long.", "run")
    assert _highlighted(s) == ["running", "runs"]


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("사다", ["샀", "사"]),
        ("부르다", ["불", "부르"]),
        ("걷다", ["걸", "걷"]),
        ("자동차", ["자동차", "자동차"]),
    ],
)
def test_a_snippet_highlights_what_full_analysis_finds(query: str, shown: list[str]) -> None:
    # snippets analyse only the Korean words that could match, and their neighbours
    text = (
        "어제 자동차를 샀다. 살 때는 몰랐다. 사려면 노래를 불러 보세요. "
        "부르는 사람. 걸어서 걷는다. 자동차"
    )
    found = [text[t.start : t.end] for t in analyze(text) if t.term == query]
    assert set(shown) <= set(found)
    assert _highlighted(snippet(text, query, width=200)) == found


CONJUGATED = (
    "자료가 있나요? 있었다. 있는 것, 있어서 좋다. 좋아요, 좋은 날. 나는 안다, 아는 사람, "
    "압니다, 알아요. 도와 주세요, 돕는 손, 도운 일. 걸어서 걷는다. 병이 나아서 낫는다. "
    "어떻게 하나요? 어때요? 어떤 책. 책을 읽어요, 읽는다. 싫어요, 싫은 일. 만들어 만드는 "
    "만든 것. 추워요, 춥다. 그래서 그렇다. 불러 부르는 노래."
)


@pytest.mark.parametrize(
    ("query", "term"),
    [("있나요", "있다"), ("좋다", "좋다"), ("알다", "알다"), ("돕다", "돕다"), ("걷다", "걷다"),
     ("낫다", "낫다"), ("어떻다", "어떻다"), ("읽다", "읽다"), ("싫다", "싫다"),
     ("만들다", "만들다"), ("춥다", "춥다"), ("그렇다", "그렇다"), ("부르다", "부르다")],
)  # fmt: skip
def test_a_snippet_of_a_predicate_finds_every_form_full_analysis_finds(
    query: str, term: str
) -> None:
    # the pre-filter sends kiwi only words that could be `term` conjugated: each stem's
    # last syllable as narrowly as its final consonant allows (있다: 있 only)
    found = [CONJUGATED[t.start : t.end] for t in analyze(CONJUGATED) if t.term == term]
    assert found and term in analyse_query(query).words
    assert _highlighted(snippet(CONJUGATED, query, width=len(CONJUGATED))) == found


def test_the_pre_filter_keeps_a_regular_stem_to_itself() -> None:
    """있다 (in most Korean questions) sends kiwi words with 있 only, not every 아-잏 word:
    the slowest searches' snippets spent most of their time on those (issue 30)."""
    from searchengine.lexical import _could_match

    words = "자료가 있나요 아는 이 일을 어떻게 알아요".split()
    could = _could_match({"있다"})
    assert could is not None and [w for w in words if could.search(w)] == ["있나요"]
    could = _could_match({"알다", "어떻다"})
    assert could is not None and [w for w in words if could.search(w)] == [
        "아는",
        "어떻게",
        "알아요",
    ]


def test_a_snippet_without_a_match_is_the_start_of_the_text() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    s = snippet(text, "kangaroo", width=60)
    assert s.start == 0 and s.highlights == ()
    assert s.text.endswith(ELLIPSIS) and not s.text.startswith(ELLIPSIS)
    assert text.startswith(s.text[:-1])
    assert 40 <= s.end <= 80 and text[s.end - 1] != " "


def test_a_snippet_of_a_query_without_terms_has_no_highlights() -> None:
    s = snippet(CAR_TEXT, "을 !!")
    assert s.start == 0 and s.highlights == ()


def test_a_snippet_of_empty_text() -> None:
    assert snippet("", "anything") == Snippet("", 0, 0, ())


def test_a_long_text_is_windowed_around_the_match() -> None:
    text = "alpha beta gamma " * 100 + "the dpkg-divert command\nmoves   files " + "omega " * 100
    s = snippet(text, "dpkg-divert", width=80)
    assert s.text.startswith(ELLIPSIS) and s.text.endswith(ELLIPSIS)
    assert _highlighted(s) == ["dpkg", "divert"]
    assert " ".join(text[s.start : s.end].split()) == s.text[1:-1]
    assert "\n" not in s.text and "  " not in s.text
    assert 60 <= s.end - s.start <= 110
    assert text[s.start - 1] == " " and text[s.end] == " "  # cut between words


def test_the_window_with_most_distinct_terms_wins() -> None:
    text = "apple " + "filler " * 60 + "apple banana cherry " + "filler " * 60 + "banana"
    s = snippet(text, "apple banana cherry", width=60)
    assert _highlighted(s) == ["apple", "banana", "cherry"]


def test_ties_go_to_the_earliest_window() -> None:
    text = "apple " + "filler " * 60 + "apple " + "filler " * 60
    s = snippet(text, "apple", width=40)
    assert s.start == 0 and _highlighted(s) == ["apple"]


def test_korean_snippet_offsets_survive_collapsed_whitespace() -> None:
    text = "서론\n\n\n" + "내용 " * 80 + "\n\n자동차\t\t보험을   비교했다\n\n" + "끝 " * 80
    s = snippet(text, "자동차 보험", width=50)
    assert _highlighted(s) == ["자동차", "보험"]
    assert " ".join(text[s.start : s.end].split()) == s.text.strip(ELLIPSIS)


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(
            ["apple", "apples", "banana", "run", "running", "dpkg-divert", "os.path", "자동차를"]
            + ["보험", "the", "a", "x1", "Café", "東京", "...", "\n", "  ", "—"]
        ),
        max_size=80,
    ),
    query=st.lists(
        st.sampled_from(["apple", "run", "dpkg", "divert", "자동차", "cafe", "東", "the"]),
        min_size=1,
        max_size=3,
    ),
    width=st.integers(10, 200),
)
def test_every_highlight_is_a_query_term(words: list[str], query: list[str], width: int) -> None:
    text = " ".join(words)
    q = " ".join(query)
    s = snippet(text, q, width)
    wanted = set(query_terms(q))
    assert 0 <= s.start <= s.end <= len(text)
    assert " ".join(text[s.start : s.end].split()) == s.text.strip(ELLIPSIS)
    for a, b in s.highlights:
        assert 0 <= a < b <= len(s.text)
        assert set(_terms(s.text[a:b])) & wanted


def test_a_hit_by_meaning_shows_the_piece_that_matched() -> None:
    text = " ".join(f"park{i}" for i in range(60)) + " " + " ".join(f"road{i}" for i in range(60))
    piece = (text.index("road0"), len(text))
    # no word of the query in the chunk: the start of the piece, not of the chunk
    s = snippet(text, "automobile", focus=piece)
    assert s.text.startswith(ELLIPSIS + "road0") and s.start == piece[0]
    assert snippet(text, "automobile").text.startswith("park0")
    # words inside the piece come first; elsewhere only when the piece has none
    assert "road7" in snippet(text, "road7 park3", focus=piece).text
    assert "park3" in snippet(text, "park3", focus=piece).text


# --- the terms the lexical index kept (chunks.term_spans) instead of analysing again ------


def _eval_queries(qrels: str) -> list[str]:
    lines = (EVALSETS / qrels).read_text(encoding="utf-8").splitlines()[1:]
    return sorted({line.split("\t")[0] for line in lines if line.strip()})


def _paragraphs(folder: str) -> list[str]:
    docs = sorted((EVALSETS / folder / "docs").glob("*.txt"))
    return [p for d in docs for p in re.split(r"\n\s*\n", d.read_text(encoding="utf-8"))]


def _kept(texts: list[str]) -> dict[str, tuple[str, bytes]]:
    """Each text's lexical row and spans, as the indexer writes them."""
    out = {}
    for text in texts:
        terms, spans = lexical.analyse_chunks([Chunk(text=text)])  # type: ignore[list-item]
        assert spans[0] is not None
        out[text] = (terms[0], spans[0])
    return out


def _indexed(kept: tuple[str, bytes], text: str, query: AnalysedQuery) -> list[Term]:
    found = lexical.stored_terms(*kept, text, frozenset(query.words))
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("qrels", "folder"),
    [("python-faq-en/qrels.tsv", "python-faq-en"), ("debian-faq-ko/qrels-en.tsv", "debian-faq-ko")],
)
def test_kept_terms_give_todays_snippets_outside_hangul(qrels: str, folder: str) -> None:
    """The eval sets' English queries over their paragraphs (the Korean FAQ's too): the
    snippets and highlights from the kept terms are today's, to the character."""
    texts = [p for p in _paragraphs(folder) if p.strip()]
    kept = _kept(texts)
    compared = 0
    for q in _eval_queries(qrels)[::6]:
        query = analyse_query(q)
        if lexical._could_match(frozenset(query.words)) is not None:
            continue  # a Hangul term: the next test's
        for text in texts:
            assert snippet(text, query, indexed=_indexed(kept[text], text, query)) == snippet(
                text, query
            ), (q, text)
            compared += 1
    assert compared > 2_000


def test_kept_terms_give_todays_korean_snippets_where_today_reads_the_whole_text() -> None:
    """The Korean FAQ's queries over its paragraphs. Today's snippet reads with kiwi only
    the Hangul words that could hold a query term, and their neighbours; the index (and
    so the kept terms) read the whole text, and kiwi's reading of a word depends on the
    words beside it. Where today's reading is of the whole text, the snippets must be
    the same; elsewhere they differ in about 1 pair in 75, each time showing what the
    index matched (bench/results/tail_2026-12-07_snippets.txt)."""
    texts = [p for p in _paragraphs("debian-faq-ko") if lexical._HAS_HANGUL_RE.search(p)]
    kept = _kept(texts)
    whole = {text: lexical._kiwi_view(text, lexical._EVERY_WORD)[0] for text in texts}
    compared = 0
    for q in _eval_queries("debian-faq-ko/qrels.tsv")[::4]:
        query = analyse_query(q)
        could = lexical._could_match(frozenset(query.words))
        for text in texts:
            if (
                could is None
                or not could.search(text)
                or lexical._kiwi_view(text, could)[0] != whole[text]
            ):
                continue
            assert snippet(text, query, indexed=_indexed(kept[text], text, query)) == snippet(
                text, query
            ), (q, text)
            compared += 1
    assert compared > 150
