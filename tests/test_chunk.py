"""Token-aware chunking keeps offsets, pages, limits and overlap."""

from __future__ import annotations

import re

import pytest

from indexer.chunk import chunk_passages, windows_of
from searchengine.records import Passage


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def test_offsets_point_at_the_chunk_text() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_passages([Passage(text, page=3)], words, max_tokens=20, overlap=5)
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.page == 3
        assert len(c.text.split()) <= 20
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    # consecutive chunks overlap by about 5 tokens
    assert set(chunks[0].text.split()[-5:]) <= set(chunks[1].text.split())
    assert chunks[-1].text.endswith("w99")


def test_a_chunk_prefers_to_end_at_a_sentence() -> None:
    text = "one two three four five six seven. eight nine ten eleven twelve thirteen fourteen"
    chunks = chunk_passages([Passage(text)], words, max_tokens=8, overlap=0)
    assert chunks[0].text.endswith("seven.")


def test_short_and_empty_passages() -> None:
    assert chunk_passages([Passage("   ")], words, 10, 2) == []
    (only,) = chunk_passages([Passage("just a few words")], words, 10, 2)
    assert only.text == "just a few words" and only.start == 0


def test_a_long_chunk_is_read_by_vectors_in_equal_pieces() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    (chunk,) = chunk_passages([Passage(text)], words, max_tokens=100, overlap=0, vector_tokens=30)
    pieces = [chunk.text[a:b] for a, b in chunk.pieces()]
    sizes = [len(p.split()) for p in pieces]
    assert len(pieces) == 4 and max(sizes) <= 30 and min(sizes) >= 20  # not 30+30+30+10
    assert " ".join(pieces).split() == text.split()  # every token once, in order
    assert chunk.windows == windows_of(chunk.text, words, 30)  # a stored chunk, re-split


def test_a_piece_ends_at_a_sentence_near_its_share() -> None:
    text = " ".join(f"w{i}" + ("." if i == 22 else "") for i in range(40))
    (chunk,) = chunk_passages([Passage(text)], words, max_tokens=40, overlap=0, vector_tokens=30)
    first, second = (chunk.text[a:b] for a, b in chunk.pieces())
    assert first.endswith("w22.") and second.startswith("w23")


def test_a_chunk_that_fits_is_one_vector() -> None:
    text = "ten words " * 5
    (chunk,) = chunk_passages([Passage(text)], words, max_tokens=40, overlap=0, vector_tokens=10)
    assert chunk.windows == () and chunk.pieces() == ((0, len(chunk.text)),)
    assert windows_of(chunk.text, words, None) == ()
    # the offsets are the chunk's own, not the passage's
    later = chunk_passages([Passage("x " * 50 + text)], words, 40, 0, vector_tokens=20)
    for c in later:
        assert all(0 <= a < b <= len(c.text) for a, b in c.pieces())


def test_a_piece_size_too_small_to_mean_anything_is_refused() -> None:
    with pytest.raises(ValueError, match="vector_tokens"):
        chunk_passages([Passage("a b c")], words, 10, 0, vector_tokens=3)
    with pytest.raises(ValueError, match="vector_tokens"):
        chunk_passages([Passage("a b c")], words, 10, 0, vector_tokens=-1)
    (whole,) = chunk_passages([Passage("a b c " * 9)], words, 40, 0, vector_tokens=0)
    assert whole.windows == ()


def test_a_long_passage_is_tokenized_a_segment_at_a_time_into_the_same_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A passage past SEGMENT_CHARS (one HTML page can hold millions of characters) is
    tokenized in segments cut before a space, never whole: the same chunks, windows and
    offsets as one call over it, and no call sees more than a segment."""
    import indexer.chunk as chunk

    text = " ".join(f"w{i}" + (".\n" if i % 37 == 0 else "") for i in range(3000))
    seen: list[int] = []

    def spied(t: str) -> list[tuple[int, int]]:
        """Words, and as e5's tokenizer does, a token for spaces that end a text."""
        seen.append(len(t))
        return words(t) + ([(len(t) - 1, len(t))] if t[-1:].isspace() else [])

    whole = chunk_passages([Passage(text, page=2)], spied, 50, 10, vector_tokens=20)
    seen.clear()

    monkeypatch.setattr(chunk, "SEGMENT_CHARS", 500)
    cut = chunk_passages([Passage(text, page=2)], spied, 50, 10, vector_tokens=20)
    assert len(seen) >= len(text) // 500 and max(seen) <= 500
    assert cut == whole
    assert all(type(c.start) is int and type(c.end) is int for c in cut)  # stored as SQL ints
    assert all(type(x) is int for c in cut for w in c.windows for x in w)
    # a run with no space to cut before is cut anyway, and nothing is lost
    seen.clear()
    long = text + " " + "x" * 1200 + " tail"
    cut = chunk_passages([Passage(long)], spied, 50, 10)
    assert max(seen) <= 500 and cut[0].start == 0 and cut[-1].text.endswith("x tail")
    assert all(long[c.start : c.end] == c.text for c in cut)
