"""Mark chunks read by OCR (a scanned PDF page), so that a hit can say its text may hold errors.

`chunks.ocr` is false for every chunk written before (all of them came from a
text layer) and for text read the ordinary way.

Revision ID: 0012_add_chunk_ocr
Revises: 0011_postgres_notify
"""

import sqlalchemy as sa

from alembic import op

revision = "0012_add_chunk_ocr"
down_revision = "0011_postgres_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: recreating `chunks` would drop the triggers that follow it
    op.add_column("chunks", sa.Column("ocr", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute("ALTER TABLE chunks DROP COLUMN ocr")  # native DROP COLUMN (SQLite 3.35+)
