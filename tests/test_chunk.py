"""Token-aware chunking keeps offsets, pages, limits and overlap."""

from __future__ import annotations

import re

from indexer.chunk import chunk_passages
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
