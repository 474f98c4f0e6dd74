"""Records the catalog hands out, and the small SQL pieces its modules share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from searchengine.catalog.schema import Chunk, File, ImageTag, Space, Vector
from searchengine.catalog.terms import insert_terms
from searchengine.records import Chunk as ChunkRecord
from searchengine.records import FileStamp, Tag, Vectors

IN_BATCH = 500  # ids per `IN (...)`, well under SQLite's variable limit
# Vectors are kept as float16 (migration 0010): half the catalog, and a search's
# cosines move by ~1e-4. Every vector is rounded to that precision before it is
# written anywhere (`as_stored`), so an index rebuilt from the catalog holds the
# very vectors the incremental one did.
STORED_DTYPE = np.float16
STORED_BYTES = np.dtype(STORED_DTYPE).itemsize
STAGING_SUFFIX = ".next"  # a space being re-embedded with another model: "text.next"


def staging_name(space: str) -> str:
    """The space that holds a model switch in progress for `space`."""
    return space + STAGING_SUFFIX


def is_staging(space: str) -> bool:
    return space.endswith(STAGING_SUFFIX)


@dataclass(frozen=True)
class FileState:
    """What the catalog knows of a file, for change detection."""

    id: int
    path: str  # the name on disk
    size: int
    mtime_ns: int
    sha256: str
    kind: str
    skip_reason: str | None
    skip_limits: str | None = None  # the reading limits when it was skipped (or read short)
    parent_id: int | None = None  # the file that holds it (a mail, of an attachment)

    @property
    def on_disk(self) -> bool:
        """Whether `path` names a file on disk (not an item inside one)."""
        return self.parent_id is None


@dataclass(frozen=True)
class SpaceInfo:
    name: str
    model: str
    fingerprint: str
    dim: int
    index_generation: int
    index_count: int
    query_fingerprint: str | None = None
    index_deleted: int = 0
    index_bytes: int = 0
    metric: str = "cosine"
    precision: str | None = None  # "fp32", "bf16", "bf16+fp32"; None: not recorded

    @property
    def stamp(self) -> FileStamp:
        """What the catalog recorded of the space's saved index file."""
        return FileStamp(self.index_count, self.index_deleted, self.index_bytes)


@dataclass(frozen=True)
class NewItem:
    """A file's content ready to be written: chunks (text) or one vector (image).

    A picture may also hold words, read by OCR: its chunks, each with a row in
    `text_vectors` (the text space), beside its one image vector."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    sha256: str
    space: str
    chunks: Sequence[ChunkRecord]  # a document's text; a picture's words read by OCR, or none
    vectors: Vectors  # one row per piece of each chunk (Chunk.pieces), or one for an image
    tags: Sequence[Tag] = ()  # an image's confident labels, best first
    # What the lexical index holds, analysed by the indexer (lexical.index_text per chunk,
    # lexical.tag_terms for the tags): the catalog stores terms, it never analyses text.
    # Left empty, the chunks are stored without words.
    terms: Sequence[str] = ()
    # where each chunk's terms stand in its text (lexical.term_spans), None where not kept;
    # left empty, none is kept
    term_spans: Sequence[bytes | None] = ()
    tag_terms: str = ""
    text_vectors: Vectors | None = None  # a picture's chunks in the text space, one row each
    text_space: str = "text"
    parent: str | None = None  # the path of the file that holds it (a mail, of its attachment)
    read_short: str | None = None  # the reading limits it was read under without OCR (a picture)
    domain: str | None = None  # an image's domain (models/domain.py), None where unknown

    def rows(self) -> Iterator[tuple[str, Vectors, bool]]:
        """(space, vectors, whether each row is a chunk's), in the order they are written."""
        yield self.space, self.vectors, self.text_vectors is None and bool(self.chunks)
        if self.text_vectors is not None:
            yield self.text_space, self.text_vectors, True

    def vectors_in(self, space: str) -> list[Vectors]:
        return [v for name, v, _ in self.rows() if name == space]


def valid_vectors_of(space: str) -> tuple[ColumnElement[bool], ...]:
    """Where-conditions for a space's vectors that its index may hold: its model, its size."""
    return (
        Vector.space == space,
        Vector.fingerprint == Space.fingerprint,
        func.length(Vector.data) == Space.dim * STORED_BYTES,
    )


def id_batches(ids: list[int]) -> Iterator[list[int]]:
    """`ids` in slices small enough for one `IN (...)`."""
    for at in range(0, len(ids), IN_BATCH):
        yield ids[at : at + IN_BATCH]


def as_stored(vectors: Vectors) -> Vectors:
    """`vectors` rounded to the catalog's precision, as float32 (what hnswlib and numpy take)."""
    return np.asarray(vectors, dtype=np.float32).astype(STORED_DTYPE).astype(np.float32)


def vector_blob(vector: Vectors) -> bytes:
    """One vector as the catalog stores it."""
    return np.ascontiguousarray(vector, dtype=STORED_DTYPE).tobytes()


def stack_vectors(blobs: Iterable[bytes]) -> Vectors:
    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    stored = np.frombuffer(b"".join(blobs), dtype=STORED_DTYPE)
    return stored.astype(np.float32).reshape(len(blobs), -1)


def space_info(row: Space) -> SpaceInfo:
    return SpaceInfo(
        row.name,
        row.model,
        row.fingerprint,
        row.dim,
        row.index_generation,
        row.index_count,
        row.query_fingerprint,
        row.index_deleted or 0,
        row.index_bytes or 0,
        row.metric,
        row.precision,
    )


def file_state(row: File) -> FileState:
    return FileState(
        row.id,
        row.path,
        row.size,
        row.mtime_ns,
        row.sha256,
        row.kind,
        row.skip_reason,
        row.skip_limits,
        row.parent_id,
    )


def drop_file(s: Session, row: File) -> list[tuple[str, int]]:
    """Delete a file with its chunks and vectors, and the items it holds (a mail's
    attachments) with theirs; returns (space, label) of the vectors."""
    pairs = []
    for child in s.scalars(select(File).where(File.parent_id == row.id)).all():
        pairs += drop_file(s, child)
    pairs += [
        (sp, int(i))
        for i, sp in s.execute(select(Vector.id, Vector.space).where(Vector.file_id == row.id))
    ]
    s.execute(delete(Vector).where(Vector.file_id == row.id))
    s.execute(delete(Chunk).where(Chunk.file_id == row.id))
    s.execute(delete(ImageTag).where(ImageTag.file_id == row.id))
    s.execute(delete(File).where(File.id == row.id))  # its tag_terms row goes by trigger
    return pairs


def write_tags(s: Session, file_id: int, tags: Sequence[Tag], terms: str) -> None:
    """Replace an image's tags and their words in the lexical index."""
    s.execute(delete(ImageTag).where(ImageTag.file_id == file_id))
    s.execute(sql_text("DELETE FROM tag_terms WHERE rowid = :id"), {"id": file_id})
    if not tags:
        return
    s.add_all(
        ImageTag(file_id=file_id, rank=n, en=t.en, ko=t.ko, score=float(t.score))
        for n, t in enumerate(tags)
    )
    insert_terms(s, "tag_terms", [(file_id, terms)])
