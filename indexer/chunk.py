"""Token-aware chunking with overlap, keeping character offsets and pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from searchengine.records import Chunk, Passage

Spans = list[tuple[int, int]]
SpanRows = Spans | np.ndarray  # (start, end) per token: a list, or an (n, 2) array

# A passage longer than this is tokenized a segment at a time (cut before a space near
# each multiple) into one compact array: one HTML page of 3.1M characters held its whole
# token list as Python tuples and the tokenizer's per-token records at once (+257 MB).
SEGMENT_CHARS = 50_000
_SPACE_RE = re.compile(r"(?<=\S)\s")  # where a run of spaces starts

_BREAKS = ".!?。！？\n"
_BREAK_WINDOW = 0.25  # look this far back from a chunk's end for a sentence break


def chunk_passages(
    passages: Sequence[Passage],
    token_spans: Callable[[str], Spans],
    max_tokens: int,
    overlap: int,
    vector_tokens: int | None = None,
) -> list[Chunk]:
    """Split passages into chunks of at most `max_tokens` tokens.

    Consecutive chunks share about `overlap` tokens. A chunk ends at a sentence
    break when one lies in its last quarter, so snippets read naturally. A chunk
    longer than `vector_tokens` carries the windows its vectors read (`windows`).
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    if vector_tokens and vector_tokens < 8:  # 0 or None: a vector per chunk
        raise ValueError("vector_tokens must be at least 8 (or 0/None: a vector per chunk)")
    overlap = max(0, min(overlap, max_tokens // 2))
    chunks: list[Chunk] = []
    for passage in passages:
        text = passage.text
        spans = _token_rows(text, token_spans)
        i = 0
        while i < len(spans):
            j = min(i + max_tokens, len(spans))
            if j < len(spans):
                j = _sentence_end(text, spans, i, j)
            start, end = int(spans[i][0]), int(spans[j - 1][1])
            piece = text[start:end]
            if piece.strip():
                pieces = _windows(text, spans[i:j], vector_tokens, start) if vector_tokens else ()
                chunks.append(
                    Chunk(piece, start, end, passage.page, len(chunks), passage.ocr, pieces)
                )
            if j >= len(spans):
                break
            i = max(j - overlap, i + 1)
    return chunks


def _token_rows(text: str, token_spans: Callable[[str], Spans]) -> SpanRows:
    """The non-empty token spans of `text`: as `token_spans` gives them, or for a long
    text an (n, 2) array of them, tokenized a segment at a time."""
    if len(text) <= SEGMENT_CHARS:
        return [s for s in token_spans(text) if s[1] > s[0]]
    parts = []
    for a, b in _segments(text):
        rows = np.asarray(token_spans(text[a:b]), dtype=np.int64).reshape(-1, 2) + a
        parts.append(rows[rows[:, 1] > rows[:, 0]])
    return np.concatenate(parts)


def _segments(text: str) -> list[tuple[int, int]]:
    """`text` cut into runs of at most SEGMENT_CHARS, each cut before a space in the
    last quarter of its run where there is one: a segment ends on a word, and the next
    begins with the spaces before its first, as it does inside the whole text."""
    out, start = [], 0
    while len(text) - start > SEGMENT_CHARS:
        end = start + SEGMENT_CHARS
        floor = end - SEGMENT_CHARS // 4
        cut = max((m.start() for m in _SPACE_RE.finditer(text, floor, end)), default=end)
        out.append((start, cut))
        start = cut
    out.append((start, len(text)))
    return out


def windows_of(
    text: str, token_spans: Callable[[str], Spans], vector_tokens: int | None
) -> tuple[tuple[int, int], ...]:
    """The windows a stored chunk's vectors read (as `Chunk.windows`): what
    `chunk_passages` gives a chunk of this text, for a model's tokenizer."""
    if not vector_tokens:
        return ()
    return _windows(text, _token_rows(text, token_spans), vector_tokens, 0)


def _windows(
    text: str, spans: SpanRows, vector_tokens: int, base: int
) -> tuple[tuple[int, int], ...]:
    """Split a chunk's tokens (`spans`, offsets into `text`) into the fewest runs of at
    most `vector_tokens`, of about equal length, each ending at a sentence break where
    one is near; offsets relative to `base`, the chunk's start. () when one run holds it.

    Equal runs, not full ones and a short tail: a vector of a few tokens matches any
    query loosely. No overlap inside a chunk (chunks overlap already), so encoding the
    runs costs no more than the chunk (attention over fewer tokens costs less)."""
    n = len(spans)
    if n <= vector_tokens:
        return ()
    parts = -(-n // vector_tokens)
    slack = max(1, int(n / parts * _BREAK_WINDOW))
    out: list[tuple[int, int]] = []
    i = 0
    for k in range(1, parts):
        ideal = round(k * n / parts)
        lo = max(i + 1, n - (parts - k) * vector_tokens, ideal - slack)
        hi = max(lo, min(i + vector_tokens, ideal + slack))
        breaks = [j for j in range(lo, hi + 1) if _breaks_after(text, spans, j)]
        j = min(breaks, key=lambda b: (abs(b - ideal), b)) if breaks else min(max(ideal, lo), hi)
        out.append((int(spans[i][0]) - base, int(spans[j - 1][1]) - base))
        i = j
    out.append((int(spans[i][0]) - base, int(spans[-1][1]) - base))
    return tuple(out)


def _breaks_after(text: str, spans: SpanRows, k: int) -> bool:
    """Whether a sentence (or line) ends after the k-th token (1-based)."""
    end = int(spans[k - 1][1])
    return text[end - 1 : end] in _BREAKS or text[end : end + 1] == "\n"


def _sentence_end(text: str, spans: SpanRows, i: int, j: int) -> int:
    floor = j - max(1, int((j - i) * _BREAK_WINDOW))
    for k in range(j, floor, -1):
        if _breaks_after(text, spans, k):
            return k
    return j


def vector_texts(chunks: Iterable[Chunk]) -> list[str]:
    """What the text model encodes for these chunks: each piece of each chunk, in order."""
    return [c.text[a:b] for c in chunks for a, b in c.pieces()]


def vector_count(chunks: Iterable[Chunk]) -> int:
    """How many text vectors these chunks have."""
    return sum(len(c.pieces()) for c in chunks)
