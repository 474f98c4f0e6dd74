"""Add an image's domain: photo, drawing, or text (a picture of text).

`files.domain` is what searchengine/models/domain.py's probe says of an image's
vector when it is indexed; NULL for documents, for images of a model without a
probe, and for images indexed before this revision (the next index run fills
them from their stored vectors). A search can keep one domain (`--domain`).

Revision ID: 0016_add_image_domain
Revises: 0015_add_events
"""

import sqlalchemy as sa

from alembic import op

revision = "0016_add_image_domain"
down_revision = "0015_add_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN, as 0012 and 0014 do
    op.add_column("files", sa.Column("domain", sa.String, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE files DROP COLUMN domain")  # native DROP COLUMN (SQLite 3.35+)
