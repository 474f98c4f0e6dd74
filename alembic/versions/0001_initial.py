"""Files, chunks, vectors and the per-space model record.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa

from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# 64-bit on PostgreSQL (mtime_ns, sizes past 2 GB, ids); exactly INTEGER on SQLite,
# whose INTEGER is 64-bit already and whose INTEGER PRIMARY KEY is the rowid
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("fingerprint", sa.String, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("metric", sa.String, nullable=False),
        sa.Column("index_generation", BIG, nullable=False),
        sa.Column("index_count", BIG, nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("path", sa.String, nullable=False, unique=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("size", BIG, nullable=False),
        sa.Column("mtime_ns", BIG, nullable=False),
        sa.Column("sha256", sa.String, nullable=False),
        sa.Column("indexed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_files_sha256", "files", ["sha256"])
    op.create_table(
        "chunks",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("file_id", BIG, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("page", sa.Integer, nullable=True),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_chunks_file_id", "chunks", ["file_id"])
    op.create_table(
        "vectors",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("space", sa.String, sa.ForeignKey("spaces.name"), nullable=False),
        sa.Column("file_id", BIG, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chunk_id", BIG, sa.ForeignKey("chunks.id", ondelete="CASCADE"), nullable=True),
        sa.Column("fingerprint", sa.String, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_vectors_space_file", "vectors", ["space", "file_id"])


def downgrade() -> None:
    op.drop_table("vectors")
    op.drop_table("chunks")
    op.drop_table("files")
    op.drop_table("spaces")
