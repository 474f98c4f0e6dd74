"""Remember files that could not be indexed, and why.

A file that failed extraction keeps its size and mtime with the reason, so an
unchanged bad file is reported again without being read again.

Revision ID: 0002_add_skip_reason
Revises: 0001_initial
"""

import sqlalchemy as sa

from alembic import op

revision = "0002_add_skip_reason"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("skip_reason", sa.String, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("skip_reason")
