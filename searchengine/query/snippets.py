"""Snippets: a window of a chunk around the query's terms, with highlight spans.

The terms are found by the same analysis that feeds the lexical index
(searchengine/lexical.py), so `자동차` highlights the noun inside `자동차를`, not its particle.
A chunk indexed since migration 0018 keeps where its terms stand (`chunks.term_spans`):
its snippet highlights exactly the terms the index holds, without analysing it again.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from searchengine.lexical import AnalysedQuery, Term, analyse_query, matching_terms

SNIPPET_WIDTH = 160
ELLIPSIS = "…"
_WORD_SLACK = 20  # how far a snippet edge may move to land between words


@dataclass(frozen=True)
class Snippet:
    """A window of a text around the query's matches, ready to display.

    `start`/`end` index the source text; `highlights` index `text`, which shows
    whitespace runs as one space and may begin or end with an ellipsis.
    """

    text: str
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...]


def snippet(
    text: str,
    query: str | AnalysedQuery,
    width: int = SNIPPET_WIDTH,
    focus: tuple[int, int] | None = None,
    indexed: Sequence[Term] | None = None,
) -> Snippet:
    """About `width` characters of `text` around the most distinct query terms.

    `focus` is the part of `text` that matched the query's meaning (the piece of a
    chunk its best vector reads): terms there come first, and without a match there
    the snippet is its start. Without either (a purely semantic hit on a whole
    chunk) the snippet is the start of the text. A search passes its analysed query,
    so a page's snippets analyse it no more. `indexed`: the terms of `text` as the
    lexical index read it, those of the query at least (`lexical.stored_terms`); without
    them `text` is analysed now, its Hangul words that could hold a query term only.
    """
    wanted = frozenset(query.words) if isinstance(query, AnalysedQuery) else _wanted(query)
    if indexed is None:
        matches = matching_terms(text, wanted)
    else:
        matches = [t for t in indexed if t.term in wanted]
    if focus is not None:
        inside = [m for m in matches if focus[0] <= m.start and m.end <= focus[1]]
        if inside or not matches:
            matches = inside
    if matches:
        core_start, core_end = _densest(matches, width)
    elif focus is not None:
        core_start, core_end = focus[0], min(focus[1], focus[0] + width)
    else:
        core_start, core_end = 0, 0
    start, end = _frame(text, core_start, core_end, width)
    shown = [m for m in matches if start <= m.start and m.end <= end]
    return _render(text, start, end, shown)


@functools.lru_cache(maxsize=64)
def _wanted(query: str) -> frozenset[str]:  # a page's hits share one analysis of the query
    return frozenset(analyse_query(query).words)


def _densest(matches: list[Term], width: int) -> tuple[int, int]:
    """The span of the first run of matches within `width` with the most distinct terms."""
    counts: Counter[str] = Counter()
    best, best_i, best_j = -1, 0, 0
    j = 0
    for i, first in enumerate(matches):
        limit = first.start + width
        while j < len(matches) and (j <= i or matches[j].end <= limit):
            counts[matches[j].term] += 1
            j += 1
        if len(counts) > best:
            best, best_i, best_j = len(counts), i, j
        counts[first.term] -= 1
        if not counts[first.term]:
            del counts[first.term]
    run = matches[best_i:best_j]
    return run[0].start, max(t.end for t in run)


def _frame(text: str, core_start: int, core_end: int, width: int) -> tuple[int, int]:
    """Widen [core_start, core_end) to about `width` characters, ending between words."""
    slack = max(0, width - (core_end - core_start))
    room_after = len(text) - core_end
    before = min(core_start, max(slack // 3, slack - room_after))
    after = min(room_after, slack - before)
    start, end = core_start - before, core_end + after

    if 0 < start and not text[start - 1].isspace() and not text[start].isspace():
        cut = _find_space(text, start, core_start)
        back = _rfind_space(text, max(0, start - _WORD_SLACK), start)
        if cut is not None:
            start = cut  # trim the cut word
        elif back is not None:
            start = back + 1  # the match is in it: show all of it
        elif start <= _WORD_SLACK:
            start = 0
    if end < len(text) and not text[end - 1].isspace() and not text[end].isspace():
        cut = _rfind_space(text, core_end, end)
        ahead = _find_space(text, end, min(len(text), end + _WORD_SLACK))
        if cut is not None:
            end = cut
        elif ahead is not None:
            end = ahead
        elif len(text) - end <= _WORD_SLACK:
            end = len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _find_space(text: str, lo: int, hi: int) -> int | None:
    return next((i for i in range(lo, hi) if text[i].isspace()), None)


def _rfind_space(text: str, lo: int, hi: int) -> int | None:
    return next((i for i in range(hi - 1, lo - 1, -1) if text[i].isspace()), None)


def _collapse(text: str) -> str:
    """`text` with each whitespace run shown as one space (split/join: a regex
    substitution took several times as long on a snippet's window)."""
    if not text:
        return text
    core = " ".join(text.split())
    if not core:
        return " "
    lead = " " if text[0].isspace() else ""
    return lead + core + (" " if text[-1].isspace() else "")


def _render(text: str, start: int, end: int, shown: list[Term]) -> Snippet:
    prefix = ELLIPSIS if text[:start].strip() else ""
    suffix = ELLIPSIS if text[end:].strip() else ""
    window = text[start:end]
    # whitespace runs show as one space; a source offset lands where the text before
    # it ends once collapsed (not a Python loop over every character of the window)

    def position(offset: int) -> int:
        return len(prefix) + len(_collapse(window[: offset - start]))

    spans: list[tuple[int, int]] = []
    for t in sorted(shown, key=lambda t: (t.start, t.end)):
        a, b = position(t.start), position(t.end)
        if spans and a < spans[-1][1]:  # kiwi's stems can overlap their endings
            spans[-1] = (spans[-1][0], max(b, spans[-1][1]))
        else:
            spans.append((a, b))
    return Snippet(prefix + _collapse(window) + suffix, start, end, tuple(spans))
