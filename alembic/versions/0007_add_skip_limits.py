"""Remember the limits a file was skipped under, so that raising them retries it.

A file skipped for being too large, too slow to read or a likely zip bomb is
not read again while it stays unchanged; once the limits differ from the ones
recorded with its skip, the next run tries it again.

Revision ID: 0007_add_skip_limits
Revises: 0006_add_index_stamp
"""

import sqlalchemy as sa

from alembic import op

revision = "0007_add_skip_limits"
down_revision = "0006_add_index_stamp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("files", sa.Column("skip_limits", sa.String, nullable=True))


def downgrade() -> None:
    # native DROP COLUMN (SQLite 3.35+): recreating `files` would cascade into its rows
    op.execute("ALTER TABLE files DROP COLUMN skip_limits")
