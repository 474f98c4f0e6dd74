"""Record what each saved index file holds: deleted entries and size in bytes.

With ``index_generation`` and ``index_count`` (live vectors) this is the stamp
a file is checked against on open; a file that does not match is stale, newer
than its record, or not this index's, and is caught up or rebuilt.

Revision ID: 0006_add_index_stamp
Revises: 0005_add_path_key
"""

import sqlalchemy as sa

from alembic import op

revision = "0006_add_index_stamp"
down_revision = "0005_add_path_key"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001


def upgrade() -> None:
    op.add_column("spaces", sa.Column("index_deleted", BIG, nullable=False, server_default="0"))
    op.add_column("spaces", sa.Column("index_bytes", BIG, nullable=False, server_default="0"))


def downgrade() -> None:
    # native DROP COLUMN (SQLite 3.35+): vectors refer to spaces, so no recreate
    op.execute("ALTER TABLE spaces DROP COLUMN index_bytes")
    op.execute("ALTER TABLE spaces DROP COLUMN index_deleted")
