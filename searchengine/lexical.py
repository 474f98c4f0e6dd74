"""Text analysis for the lexical (BM25) index: terms and FTS5 queries.

One analysis serves indexing, querying and highlighting (query/snippets.py), so
whatever a snippet highlights is exactly what matched. Hangul goes through kiwi's morphological
analyser and keeps content morphemes only (`자동차를` → `자동차`, `샀습니다` →
`사다`); other letters and digits are split on anything else, casefolded,
stripped of diacritics and lightly stemmed (`Sources` → `sourc`, `running` →
`run`); Han and Kana, written without spaces, become one term per character.

Every term is made of characters that SQLite's `unicode61` tokenizer keeps
inside tokens, so an FTS5 column holding `index_text(...)` splits exactly at
the spaces this module puts there.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
import unicodedata
from array import array
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from itertools import accumulate, pairwise
from operator import add
from typing import TYPE_CHECKING

from searchengine import korean

if TYPE_CHECKING:  # records imports numpy: a one-shot Korean search starts kiwi before it
    from searchengine.records import Chunk, Tag

log = logging.getLogger(__name__)

MAX_QUERY_UNITS = 64  # terms or phrases OR-ed in one MATCH; the rest of a pasted page adds noise

# Hangul syllables and the conjoining jamo that NFD text (macOS) spells them with.
_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff"
_HAN_KANA = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003ffff"
)
# Letters since Unicode 6.1 that SQLite, whose tables are 6.1, still calls marks.
_SQLITE_MARKS = "\u19b0-\u19c0\u19c8\u19c9\u1cf2\u1cf3"
# runs of letters/digits outside Hangul and Han/Kana, or one Han/Kana letter
_WORD_RE = re.compile(rf"[^\W_{_HANGUL}{_HAN_KANA}{_SQLITE_MARKS}]+|(?![\W_])[{_HAN_KANA}]")
_HAS_HANGUL_RE = re.compile(f"[{_HANGUL}]")
_HAN_KANA_RE = re.compile(f"[{_HAN_KANA}]")
_NON_SPACE_RE = re.compile(r"\S+")
_PLAIN_KOREAN_RE = re.compile(r"[\uac00-\ud7a3\x21-\x7e]*")
_SYLLABLES_RE = re.compile(r"[\uac00-\ud7a3]+")

_NOUN_TAGS = frozenset({"NNG", "NNP", "NR", "XR"})
# What kiwi reads as a noun whose neighbour in a query makes a phrase (`_noun_phrases`).
_PHRASE_TAGS = frozenset({"NNG", "NNP"})
_PREDICATE_TAGS = frozenset({"VV", "VA"})
# Particles standing alone: kiwi reads a lone 을 or 은 as a noun (silver), 를 as 르.
_LONE_PARTICLES = frozenset(
    "은 는 이 가 을 를 의 에 에서 에게 께 께서 한테 으로 로 와 과 도 부터 까지 처럼 마다".split()
)
# Light verbs left over from `공부 했다`-style spacing; they would be in nearly every chunk.
_STOP_LEMMAS = frozenset({"하다", "되다"})
# final consonants (their index in a syllable) of a stem's last syllable that conjugation
# may change: none or ㅎ, the vowel too (하 → 해, 어떻 → 어때); ㄷ ㄹ ㅂ ㅅ, the final
# alone (걷 → 걸, 알 → 아, 돕 → 도, 낫 → 나)
_CONTRACTING_FINALS = frozenset({0, 27})
_IRREGULAR_FINALS = frozenset({7, 8, 17, 19})
_EVERY_WORD = re.compile("")


@dataclass(frozen=True)
class Term:
    """One normalized term and the characters of the analysed text it came from."""

    term: str
    start: int
    end: int
    noun: bool = False  # kiwi read a common or proper noun (NNG, NNP)


def analyze(text: str) -> list[Term]:
    """The terms of `text` in reading order, with their character offsets."""
    return _analyze(text, _EVERY_WORD)


def _analyze(text: str, korean_words: re.Pattern[str] | None) -> list[Term]:
    """`analyze`, giving kiwi only the Hangul words that `korean_words` finds in."""
    terms = []
    for m in _WORD_RE.finditer(text):
        term = _normalize(m.group())
        if term:
            terms.append(Term(term, m.start(), m.end()))
    # kiwi costs a model load and is never needed for text without Hangul
    if korean_words is not None and _HAS_HANGUL_RE.search(text):
        terms.extend(_korean_terms(text, korean_words))
        terms.sort(key=lambda t: (t.start, t.end))
    return terms


def matching_terms(text: str, wanted: Set[str]) -> list[Term]:
    """The terms of `text` that are in `wanted`, with their offsets."""
    # kiwi is most of the cost of a Korean snippet: spare it words that cannot match
    return [t for t in _analyze(text, _could_match(wanted)) if t.term in wanted]


def index_text(text: str) -> str:
    """What to store in the FTS5 column for `text`: its terms joined by spaces."""
    return " ".join(t.term for t in analyze(text))


def analyse_chunks(chunks: Iterable[Chunk]) -> tuple[tuple[str, ...], tuple[bytes | None, ...]]:
    """Each chunk's terms for the FTS5 column (`chunk_terms`) and where they stand in its
    text (`term_spans`), from one analysis (the indexer's part)."""
    terms, spans = [], []
    for c in chunks:
        found = analyze(c.text)
        terms.append(" ".join(t.term for t in found))
        spans.append(term_spans(found))
    return tuple(terms), tuple(spans)


# how `term_spans` writes its numbers: a leading byte names the array type of the rest
_SPAN_TYPES = {1: "B", 2: "H"}  # unsigned 8-bit, 16-bit little-endian


def term_spans(terms: Sequence[Term]) -> bytes | None:
    """Where `terms`, in reading order, stand in their text, as a chunk keeps it beside its
    lexical row (`chunks.term_spans`): for each term, how far its start is past the one
    before and its length; in bytes where all fit, else in 16-bit numbers. None where one
    does not fit. On the eval sets' FAQ chunks: 0.20 bytes per byte of Korean text (UTF-8),
    0.34 per byte of English, all in bytes.

    A snippet then finds the query's terms in a hit without analysing its text again:
    kiwi over the Hangul of a page's chunks was most of the slowest searches' time
    (issue 30, bench/results/tail_2026-12-07_snippets.txt).
    """
    numbers: list[int] = []
    previous = 0
    for t in terms:
        numbers += (t.start - previous, t.end - t.start)
        previous = t.start
    if numbers and (min(numbers) < 0 or max(numbers) > 0xFFFF):
        return None
    code = 1 if not numbers or max(numbers) <= 0xFF else 2
    packed = array(_SPAN_TYPES[code], numbers)
    if sys.byteorder == "big":
        packed.byteswap()
    return bytes([code]) + packed.tobytes()


def stored_terms(
    terms: str, spans: bytes, text: str, among: Set[str] | None = None
) -> list[Term] | None:
    """The terms of a chunk's lexical row (`terms`, space-separated), or those `among`
    these, at the offsets in `text` that `term_spans` kept; None where the two do not fit
    together (a row written by another analysis), so that the caller analyses `text`."""
    words = terms.split()
    if not spans or spans[0] not in _SPAN_TYPES:
        return None
    numbers = array(_SPAN_TYPES[spans[0]])
    try:
        numbers.frombytes(spans[1:])
    except ValueError:  # not a whole number of 16-bit numbers
        return None
    if len(numbers) != 2 * len(words):
        return None
    if sys.byteorder == "big":
        numbers.byteswap()
    starts = list(accumulate(numbers[0::2]))
    lengths = numbers[1::2]
    if words and max(map(add, starts, lengths)) > len(text):
        return None
    # a Term only for the words asked for: a page's chunks hold thousands of terms
    return [
        Term(w, a, a + n)
        for w, a, n in zip(words, starts, lengths, strict=True)
        if among is None or w in among
    ]


def tag_terms(tags: Iterable[Tag]) -> str:
    """What to store in the FTS5 column for an image's tags: the terms of their words."""
    return index_text(" ".join(t.words for t in tags))


@dataclass(frozen=True)
class AnalysedQuery:
    """A query analysed once (kiwi runs on its Hangul once): what every stage of a search
    reads, the MATCH expression of each space, query expansion and the snippets.

    The terms are found when a stage first reads them, not when the record is made: a
    search encodes its query before it matches words, so a one-shot Korean search loads
    the text model while kiwi loads in its helper process (korean.py), instead of one
    after the other (issue 30: such a search waited about 1 s for kiwi's load with the
    text model not yet started).
    """

    text: str
    exact: bool  # it carries an identifier, a path or a number (`looks_exact`)

    @functools.cached_property
    def terms(self) -> tuple[Term, ...]:
        """The terms in reading order, with offsets into `text`."""
        return tuple(analyze(self.text))

    @functools.cached_property
    def words(self) -> tuple[str, ...]:
        """The distinct terms, in order."""
        return tuple(dict.fromkeys(t.term for t in self.terms))

    @functools.cached_property
    def korean(self) -> tuple[str, ...]:
        """The distinct terms that are kiwi's morphemes of its Hangul."""
        hangul = (t.term for t in self.terms if _HAS_HANGUL_RE.match(self.text, t.start))
        return tuple(dict.fromkeys(hangul))

    @functools.cached_property
    def expression(self) -> str | None:
        """The FTS5 MATCH expression; None: no terms."""
        return _expression(self.text, self.terms)


def analyse_query(query: str) -> AnalysedQuery:
    """`query` as the record a search passes down (analysed when first read)."""
    return AnalysedQuery(query, looks_exact(query))


_EXACT_TOKEN = re.compile(r"\d|\w[-_./:]\w|(^|\s)[-_./]+\w|\w_")


def looks_exact(query: str) -> bool:
    """Whether the query carries an identifier, a path or a number: words found word for
    word then count for more than meaning (query/fusion.py)."""
    return bool(_EXACT_TOKEN.search(query))


def query_terms(query: str) -> list[str]:
    """The distinct terms of `query`, in order."""
    return list(analyse_query(query).words)


def match_expression(query: str) -> str | None:
    """A safe FTS5 MATCH expression for `query`, or None when it has no terms (one made
    for a search is `AnalysedQuery.expression`)."""
    return _expression(query, analyze(query))


def _expression(query: str, terms: Sequence[Term]) -> str | None:
    """A safe FTS5 MATCH expression for `query`, whose terms are `terms`.

    Everything the user typed is literal text: each term is double-quoted and
    the terms are OR-ed, leaving the ranking to BM25. Parts of one identifier
    (`dpkg-divert`, `os.path.join`, `v2.3.1`) and runs of Han/Kana become one
    phrase, so they must appear side by side; Korean nouns side by side are asked
    both alone and as a phrase (`_noun_phrases`).
    """
    groups: list[list[Term]] = []
    for term in terms:
        if groups and _same_word(query, groups[-1][-1], term):
            groups[-1].append(term)
        else:
            groups.append([term])
    units: dict[str, None] = {}
    for group in groups:
        if len(group) > 2 and any(_HAN_KANA_RE.fullmatch(t.term) for t in group):
            # a sentence without spaces: any two neighbouring characters may match,
            # the more of them the better, rather than the whole sentence verbatim
            units.update((f"{a.term} {b.term}", None) for a, b in pairwise(group))
        else:
            units[" ".join(t.term for t in group)] = None
    if not units:
        return None
    kept = [u for u in units if u not in _stop_terms()]
    if kept:  # a query of stop words alone ("The Who") still matches them
        units = dict.fromkeys(kept)
    units.update(dict.fromkeys(_noun_phrases(query, terms)))
    # terms are letters and digits only, so a quote can never end up inside one
    return " OR ".join(f'"{unit}"' for unit in list(units)[:MAX_QUERY_UNITS])


# English function words, dropped from a query that has other words: each matches most
# chunks, so FTS5 would score nearly every row for a term whose idf is ~0 anyway.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves""".split()
)


@functools.cache
def _stop_terms() -> frozenset[str]:
    """STOP_WORDS as the analyser writes them (`does` -> `doe`), so they meet query terms."""
    return frozenset(_normalize(w) for w in STOP_WORDS)


# --- terms outside Hangul ---------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def _normalize(word: str) -> str:
    if word.isascii():
        word = word.lower()
    else:
        # NFKD folds width and ligature variants; dropping what is not a letter or
        # digit removes the diacritics that `remove_diacritics 2` would ignore anyway
        compatible = unicodedata.normalize("NFKD", word)
        folded = unicodedata.normalize("NFKD", compatible.casefold())
        word = "".join(c for c in folded if c.isalnum())
    if len(word) > 2 and word.isascii() and word.isalpha():
        word = _stem(word)
    return word


def _stem(word: str) -> str:
    """Porter's steps 1 and 5: plurals, -ed/-ing, -y and a final -e; nothing else.

    Conservative on purpose: it only has to map a word's common inflections
    together, and it runs identically on documents and queries.
    """
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]

    fix_up = False
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    elif word.endswith("ed") and _has_vowel(word[:-2]):
        word, fix_up = word[:-2], True
    elif word.endswith("ing") and _has_vowel(word[:-3]):
        word, fix_up = word[:-3], True
    if fix_up:
        if word.endswith(("at", "bl", "iz")):
            word += "e"
        elif _double_consonant(word) and word[-1] not in "lsz":
            word = word[:-1]
        elif _measure(word) == 1 and _cvc(word):
            word += "e"

    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"

    if word.endswith("e"):
        m = _measure(word[:-1])
        if m > 1 or (m == 1 and not _cvc(word[:-1])):
            word = word[:-1]
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


def _consonant(word: str, i: int) -> bool:
    c = word[i]
    if c in "aeiou":
        return False
    if c == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in `stem`."""
    m, after_vowel = 0, False
    for i in range(len(stem)):
        if _consonant(stem, i):
            m += after_vowel
            after_vowel = False
        else:
            after_vowel = True
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _double_consonant(word: str) -> bool:
    return len(word) > 1 and word[-1] == word[-2] and _consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    n = len(word)
    return (
        n > 2
        and _consonant(word, n - 3)
        and not _consonant(word, n - 2)
        and _consonant(word, n - 1)
        and word[-1] not in "wxy"
    )


# --- Hangul -----------------------------------------------------------------------------


class _LocalKiwi:
    def __init__(self) -> None:
        self.kiwi = korean.new_kiwi()

    def tokenize(self, text: str) -> list[korean.Token]:
        return korean.tokens(self.kiwi, text)


_kiwi: _LocalKiwi | korean.KiwiProcess | None = None  # what analyses Hangul
_kiwi_lock = threading.Lock()


def _get_kiwi() -> _LocalKiwi | korean.KiwiProcess:
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                log.info("loading the Korean morphological analyser (kiwi)")
                _kiwi = _LocalKiwi()  # loaded under the lock: once per process
    return _kiwi


def warm_up(text: str) -> None:
    """For a one-shot search: if `text` will need kiwi (a Korean query), start loading
    it now in a helper process (korean.py says why not on a thread), which then
    analyses this process's Korean."""
    global _kiwi
    if _HAS_HANGUL_RE.search(text):
        with _kiwi_lock:
            if _kiwi is None:
                _kiwi = korean.KiwiProcess()


def _korean_terms(text: str, words: re.Pattern[str]) -> list[Term]:
    view, starts, ends = _kiwi_view(text, words)
    if not view:  # no word could match: a one-shot search need not wait for kiwi's load
        return []
    terms = []
    for token in _get_kiwi().tokenize(view):
        tag = token.tag.split("-")[0]  # VV-I, VA-R: irregular/regular conjugation
        if tag in _NOUN_TAGS or (tag == "MAG" and len(token.form) > 1):
            term = token.form
        elif tag in _PREDICATE_TAGS:
            # the dictionary form keeps the stem of 샀다 (사다) apart from the noun 사
            term = token.form + "다"
            if term in _STOP_LEMMAS:
                continue
        else:
            continue
        s, e = token.start, token.start + token.len
        if _SYLLABLES_RE.fullmatch(view, s, e) and term.isalnum():
            terms.append(Term(term, starts[s], ends[e - 1], tag in _PHRASE_TAGS))
    return terms


def _kiwi_view(text: str, words: re.Pattern[str]) -> tuple[str, list[int], list[int]]:
    """The words of `text` that contain Hangul (and `words`), cleaned up for kiwi.

    Returns the view and, for each of its characters, the start and end offset
    in `text` it stands for. kiwi sees the Hangul words with their attached
    ASCII (`USB를`, `3개의`) for context, one space or newline between them;
    other characters become spaces, because kiwi silently drops some of them
    (zero-width space) and its offsets then shift, and NFD jamo are composed,
    because kiwi does not recognise decomposed Hangul.
    """
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    found = [
        m
        for m in _NON_SPACE_RE.finditer(text)
        if _HAS_HANGUL_RE.search(m.group()) and m.group() not in _LONE_PARTICLES
    ]
    if words is not _EVERY_WORD:
        # with its neighbours: kiwi reads 살 as the verb 사다 in `살 때` but not alone
        near = {
            i + d
            for i, m in enumerate(found)
            if words.search(unicodedata.normalize("NFC", m.group()))
            for d in (-1, 0, 1)
        }
        found = [m for i, m in enumerate(found) if i in near]
    previous_end = 0
    for m in found:
        if pieces:
            pieces.append("\n" if "\n" in text[previous_end : m.start()] else " ")
            starts.append(previous_end)
            ends.append(m.start())
        word, at = m.group(), m.start()
        if _PLAIN_KOREAN_RE.fullmatch(word):
            pieces.append(word)
            starts.extend(range(at, m.end()))
            ends.extend(range(at + 1, m.end() + 1))
        else:
            _clean_word(word, at, pieces, starts, ends)
        previous_end = m.end()
    return "".join(pieces), starts, ends


def _could_match(terms: Set[str]) -> re.Pattern[str] | None:
    """What a Hangul word must contain to be analysed into one of `terms`; None: none can.

    A noun appears as itself. A conjugated predicate keeps the initial consonant
    and vowel of each stem syllable but the last (부르다 → 불러); of the last, what
    its final consonant allows: none or ㅎ, the initial consonant (오다 → 와, 마시다 →
    마셔, 어떻다 → 어때); ㄷ, ㄹ, ㅂ or ㅅ, which irregular verbs change or drop, the
    initial consonant and vowel (걷다 → 걸어, 알다 → 아는, 돕다 → 도와); any other,
    the syllable itself (있다 → 있나요). The last case matters: `[아-잏]` for 있다, a
    predicate of most Korean questions, sent nearly every word of a page's snippets
    through kiwi, the slowest searches' largest cost (issue 30).
    """
    parts = []
    for term in terms:
        if not _SYLLABLES_RE.fullmatch(term):
            continue
        parts.append(term)
        if len(term) > 1 and term.endswith("다"):  # perhaps a predicate's dictionary form
            stem = term[:-1]
            head = "".join(_syllables_like(c, 28) for c in stem[:-1])
            parts.append(head + _last_stem_syllable(stem[-1]))
    return re.compile("|".join(parts)) if parts else None


def _last_stem_syllable(syllable: str) -> str:
    """What the last syllable of a predicate's stem can look like conjugated."""
    final = (ord(syllable) - 0xAC00) % 28
    if final in _CONTRACTING_FINALS:
        return _syllables_like(syllable, 21 * 28)
    if final in _IRREGULAR_FINALS:
        return _syllables_like(syllable, 28)
    return syllable


def _syllables_like(syllable: str, block: int) -> str:
    """A class of the syllables sharing the initial consonant (and vowel, block 28)."""
    first = 0xAC00 + (ord(syllable) - 0xAC00) // block * block
    return f"[{chr(first)}-{chr(first + block - 1)}]"


def _clean_word(word: str, at: int, pieces: list[str], starts: list[int], ends: list[int]) -> None:
    i = 0
    while i < len(word):
        c, used = word[i], 1
        code = ord(c)
        if 0x1100 <= code <= 0x1112 and i + 1 < len(word) and 0x1161 <= ord(word[i + 1]) <= 0x1175:
            # the Unicode Hangul composition algorithm: L + V (+ T) → syllable
            lead, vowel, tail = code - 0x1100, ord(word[i + 1]) - 0x1161, 0
            used = 2
            if i + 2 < len(word) and 0x11A8 <= ord(word[i + 2]) <= 0x11C2:
                tail, used = ord(word[i + 2]) - 0x11A7, 3
            c = chr(0xAC00 + (lead * 21 + vowel) * 28 + tail)
        elif not ("\uac00" <= c <= "\ud7a3" or "!" <= c <= "~"):
            c = " "
        pieces.append(c)
        starts.append(at + i)
        ends.append(at + i + used)
        i += used


# --- queries and snippets ---------------------------------------------------------------


def _noun_phrases(query: str, terms: Sequence[Term]) -> list[str]:
    """Each two neighbouring nouns of a Korean query, written together or a space apart,
    as a phrase: `국회의원` and `국회 의원` both also ask for "국회 의원", which a chunk's
    terms (stored in reading order, particles dropped) hold wherever the two nouns stand
    side by side, spaced or not. Chunks store nothing more, so an index made before still
    answers it. Measured against joining them into extra terms on both sides, which lost
    on the larger Korean set, and against other spans (bench/bench_compounds.py)."""
    return [
        f"{a.term} {b.term}"
        for a, b in pairwise(terms)
        if a.noun and b.noun and not query[a.end : b.start].strip(" ")
    ]


def _same_word(query: str, before: Term, after: Term) -> bool:
    """Whether two terms are parts of one identifier or one Han/Kana run."""
    if _HAS_HANGUL_RE.match(query, before.start) or _HAS_HANGUL_RE.match(query, after.start):
        return False  # Korean morphemes stay separate terms: kiwi may split differently
    gap = query[before.end : after.start]
    return not any(c.isspace() for c in gap) and not _HAS_HANGUL_RE.search(gap)
