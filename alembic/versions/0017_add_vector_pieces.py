"""Add the piece of its chunk that a text vector reads.

A chunk longer than a vector's share (Settings.vector_tokens) is read by several
vectors, one per piece of about equal length (indexer/chunk.py); words are still
matched per chunk. `vectors.piece_start` and `piece_end` are the piece's character
offsets into the chunk's text, so a hit found by meaning shows the piece that matched
and `verify` can check that a chunk's pieces cover it. NULL: the vector reads the
whole chunk (every vector written before this revision, images, short chunks).

Revision ID: 0017_add_vector_pieces
Revises: 0016_add_image_domain
"""

import sqlalchemy as sa

from alembic import op

revision = "0017_add_vector_pieces"
down_revision = "0016_add_image_domain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs, as 0012, 0014 and 0016 do
    op.add_column("vectors", sa.Column("piece_start", sa.Integer, nullable=True))
    op.add_column("vectors", sa.Column("piece_end", sa.Integer, nullable=True))


def downgrade() -> None:
    # native DROP COLUMN (SQLite 3.35+)
    op.execute("ALTER TABLE vectors DROP COLUMN piece_end")
    op.execute("ALTER TABLE vectors DROP COLUMN piece_start")
