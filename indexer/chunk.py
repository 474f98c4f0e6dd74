"""Token-aware chunking with overlap, keeping character offsets and pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from searchengine.records import Chunk, Passage

Spans = list[tuple[int, int]]

_BREAKS = ".!?。！？\n"
_BREAK_WINDOW = 0.25  # look this far back from a chunk's end for a sentence break


def chunk_passages(
    passages: Sequence[Passage],
    token_spans: Callable[[str], Spans],
    max_tokens: int,
    overlap: int,
) -> list[Chunk]:
    """Split passages into chunks of at most `max_tokens` tokens.

    Consecutive chunks share about `overlap` tokens. A chunk ends at a sentence
    break when one lies in its last quarter, so snippets read naturally.
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    overlap = max(0, min(overlap, max_tokens // 2))
    chunks: list[Chunk] = []
    for passage in passages:
        text = passage.text
        spans = [s for s in token_spans(text) if s[1] > s[0]]
        i = 0
        while i < len(spans):
            j = min(i + max_tokens, len(spans))
            if j < len(spans):
                j = _sentence_end(text, spans, i, j)
            start, end = spans[i][0], spans[j - 1][1]
            piece = text[start:end]
            if piece.strip():
                chunks.append(Chunk(piece, start, end, passage.page, len(chunks), passage.ocr))
            if j >= len(spans):
                break
            i = max(j - overlap, i + 1)
    return chunks


def _sentence_end(text: str, spans: Spans, i: int, j: int) -> int:
    floor = j - max(1, int((j - i) * _BREAK_WINDOW))
    for k in range(j, floor, -1):
        end = spans[k - 1][1]
        if text[end - 1 : end] in _BREAKS or text[end : end + 1] in ("\n",):
            return k
    return j
