"""Typed records that cross module boundaries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
"""A 2-D float32 array, one L2-normalized row per item."""

# The words every front end shares: argparse's choices, the server's validation and
# /api/meta (which the page reads) all come from these, so a new one is added here once.
Space = Literal["text", "image"]
"""A space: one model and one HNSW index; also what a hit is, a document or an image."""
SPACES: tuple[Space, ...] = get_args(Space)
Kind = Space  # a hit's `kind` (in its JSON too) is the space it came from
Mode = Literal["hybrid", "dense", "lexical"]
"""Meaning and words, meaning only, or words only."""
MODES: tuple[Mode, ...] = get_args(Mode)
Sort = Literal["relevance", "date"]
"""Best first, or the good matches newest first."""
SORTS: tuple[Sort, ...] = get_args(Sort)

Progress = Callable[[str, int, "int | None"], None]
"""A long run's callback: (phase, done, total or None when unknown)."""


@dataclass(frozen=True)
class Passage:
    """A piece of extracted text with where it came from."""

    text: str
    page: int | None = None  # 1-based page number for paged formats (PDF)
    ocr: bool = False  # read from a picture of the text (OCR), so it may hold errors


@dataclass(frozen=True)
class Attached:
    """A file inside another (a mail's attachment), read as an item of its own.

    `name` is its place inside the file that holds it, one number and name per level:
    '2/report.pdf', or '1/forwarded.eml/1/memo.hwp' for an attachment of a mail
    forwarded as an attachment. Its catalog path is the holder's path, '/', `name`:
    never a path on disk, since the holder is a file, not a folder."""

    name: str
    size: int
    sha256: str
    passages: list[Passage]


@dataclass(frozen=True)
class Chunk:
    """A span of a document's text, sized for the text model."""

    text: str
    start: int  # character offset into the passage text
    end: int
    page: int | None = None
    ordinal: int = 0
    ocr: bool = False  # its passage was read by OCR
    # The pieces of `text` (character offsets into it) that one text vector each reads,
    # when the chunk is longer than a vector's share (Settings.vector_tokens); empty: one
    # vector reads the whole chunk. Words are matched and shown per chunk, meaning per piece.
    windows: tuple[tuple[int, int], ...] = ()

    def pieces(self) -> tuple[tuple[int, int], ...]:
        """The spans of `text` encoded, one vector each, in order."""
        return self.windows or ((0, len(self.text)),)

    def piece_offsets(self) -> tuple[tuple[int, int] | None, ...]:
        """For each of its vectors, the piece the catalog records (vectors.piece_start and
        piece_end): None where one vector reads the whole chunk."""
        return self.windows or (None,)


@dataclass(frozen=True)
class Tag:
    """A confident label of an image, in English and Korean, with its probability."""

    en: str
    ko: str
    score: float

    @property
    def words(self) -> str:
        """What the lexical index holds of it."""
        return f"{self.ko} {self.en}"

    def to_json(self) -> dict[str, object]:
        return {"en": self.en, "ko": self.ko, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Hit:
    """One search result."""

    path: str
    kind: Kind
    score: float
    space: str
    snippet: str = ""
    page: int | None = None
    place: str | None = None  # the page in its format's words: 'page 2', 'slide 3', 'sheet 1'
    start: int | None = None
    end: int | None = None
    file_id: int = 0
    highlights: tuple[tuple[int, int], ...] = ()  # spans of query terms within `snippet`
    good: bool | None = None  # above the model's calibrated good-match level (None: unknown)
    tags: tuple[Tag, ...] = ()  # an image's confident labels, best first
    domain: str | None = None  # an image's domain: photo, drawing or text (None: unknown)
    ocr: bool = False  # the snippet's text was read by OCR (it may hold errors)
    extra: dict[str, object] = field(default_factory=dict)
    # the file on disk that holds this item (a mail, of its attachment; `path` is then the
    # mail's path, '/', the attachment's place in it); None for a file on disk
    within: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": self.path,
            "kind": self.kind,
            "score": round(self.score, 6),
            "space": self.space,
            "snippet": self.snippet,
            "page": self.page,
            "place": self.place,
            "start": self.start,
            "end": self.end,
            "highlights": [list(h) for h in self.highlights],
            "good_match": self.good,
        }
        if self.kind == "image":
            out["tags"] = [t.to_json() for t in self.tags]
            out["domain"] = self.domain
        if self.ocr:
            out["ocr"] = True
        if self.within is not None:
            out["within"] = self.within
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class FileStamp:
    """What a saved index file holds; the catalog records it with the generation."""

    live: int
    deleted: int
    bytes: int


@dataclass(frozen=True)
class Results:
    """One page of hits for one query, with the notes that query gave rise to.

    `to_json()` is the one JSON shape of a search: `--json` prints it, the
    HTTP API sends it.
    """

    query: str
    mode: str
    hits: tuple[Hit, ...] = ()
    offset: int = 0
    k: int = 10
    notes: tuple[str, ...] = ()  # e.g. why a space was not searched; never carried over

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    @property
    def good_matches(self) -> int:
        return sum(1 for h in self.hits if h.good)

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "mode": self.mode,
            "offset": self.offset,
            "k": self.k,
            "good_matches": self.good_matches,
            "hits": [h.to_json() for h in self.hits],
        }
