"""SQLAlchemy models of the catalog, as of the newest migration.

The schema itself is created and changed only by the Alembic migrations in
``alembic/versions``; these classes describe it for queries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# 64-bit on PostgreSQL (ids, sizes, mtime_ns), plain INTEGER (the rowid) on SQLite
BIG = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Space(Base):
    """One embedding model plus one HNSW index."""

    __tablename__ = "spaces"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    model: Mapped[str] = mapped_column(String)
    fingerprint: Mapped[str] = mapped_column(String)
    dim: Mapped[int]
    metric: Mapped[str] = mapped_column(String, default="cosine")
    index_generation: Mapped[int] = mapped_column(BIG, default=0)
    index_count: Mapped[int] = mapped_column(BIG, default=0)  # live vectors the saved file holds
    index_deleted: Mapped[int] = mapped_column(BIG, default=0)  # deleted entries it still carries
    index_bytes: Mapped[int] = mapped_column(BIG, default=0)  # its size: with the above, its stamp
    # fingerprint of the text model whose query vectors are also this space's text queries
    query_fingerprint: Mapped[str | None] = mapped_column(String, default=None)
    # what its vectors were computed in: "fp32", "bf16", or "bf16+fp32" when runs differed;
    # None: written before this was recorded
    precision: Mapped[str | None] = mapped_column(String, default=None)


class File(Base):
    """One file under an indexed folder, indexed or skipped."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)  # the name on disk
    path_key: Mapped[str] = mapped_column(String, unique=True)  # its NFC form: the identity
    kind: Mapped[str] = mapped_column(String)  # "text" | "image"
    size: Mapped[int] = mapped_column(BIG)
    mtime_ns: Mapped[int] = mapped_column(BIG)
    sha256: Mapped[str] = mapped_column(String, index=True)
    indexed_at: Mapped[float]
    skip_reason: Mapped[str | None] = mapped_column(String, default=None)
    # the reading limits it was skipped under, or a picture's read without OCR: other limits
    # (Tesseract installed, --ocr on) read it again
    skip_limits: Mapped[str | None] = mapped_column(String, default=None)
    # the file that holds this one (a mail, of its attachment); None for a file on disk
    parent_id: Mapped[int | None] = mapped_column(
        BIG, ForeignKey("files.id", ondelete="CASCADE"), index=True, default=None
    )
    # an image's domain: "photo", "drawing" or "text" (models/domain.py); None: unknown
    domain: Mapped[str | None] = mapped_column(String, default=None)

    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="file", cascade="all, delete-orphan", passive_deletes=True
    )


class Chunk(Base):
    """A span of a file's text that was encoded."""

    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    file_id: Mapped[int] = mapped_column(
        BIG, ForeignKey("files.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int]
    page: Mapped[int | None]
    start: Mapped[int]
    end: Mapped[int]
    text: Mapped[str]
    ocr: Mapped[bool] = mapped_column(default=False, server_default=false())  # read by OCR
    # where the terms of its lexical row stand in `text` (lexical.term_spans, migration
    # 0018); None: not kept (written before, or by a writer that does not), analyse again
    term_spans: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)

    file: Mapped[File] = relationship(back_populates="chunks")


class Vector(Base):
    """One stored vector; its id is its HNSW label, never reused (AUTOINCREMENT)."""

    __tablename__ = "vectors"
    __table_args__ = (
        Index("ix_vectors_space_file", "space", "file_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    space: Mapped[str] = mapped_column(ForeignKey("spaces.name"))
    file_id: Mapped[int] = mapped_column(BIG, ForeignKey("files.id", ondelete="CASCADE"))
    chunk_id: Mapped[int | None] = mapped_column(
        BIG, ForeignKey("chunks.id", ondelete="CASCADE"), default=None
    )
    fingerprint: Mapped[str] = mapped_column(String)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # the piece of its chunk's text it reads (offsets into Chunk.text), where a chunk has a
    # vector per piece (migration 0017); None: the whole chunk, or an image
    piece_start: Mapped[int | None] = mapped_column(default=None)
    piece_end: Mapped[int | None] = mapped_column(default=None)


class ImageTag(Base):
    """One confident label of an image (ImageNet classes, English and Korean)."""

    __tablename__ = "image_tags"

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    file_id: Mapped[int] = mapped_column(
        BIG, ForeignKey("files.id", ondelete="CASCADE"), index=True
    )
    rank: Mapped[int]  # 0: the most confident
    en: Mapped[str] = mapped_column(String)
    ko: Mapped[str] = mapped_column(String)
    score: Mapped[float]


class Event(Base):
    """What a person did with a hit: opened it, its folder, copied its path, asked for
    more like it (migration 0015)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_user_name_at", "user_name", "at"),)

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    user_name: Mapped[str] = mapped_column(String)  # `user` is reserved on PostgreSQL
    file_id: Mapped[int] = mapped_column(
        BIG, ForeignKey("files.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String)
    query: Mapped[str | None] = mapped_column(String, default=None)
    rank: Mapped[int | None] = mapped_column(default=None)
    at: Mapped[float]
