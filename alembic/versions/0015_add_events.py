"""Learning from use: what a person did with a hit, one row per action.

`events` keeps who (`user_name`: the local user, or the name a server's token gives),
which item (`file_id`), what they did (`action`: open, folder, copy, similar), the
query and rank the hit came from (NULL when it came from no search) and when (`at`,
Unix seconds). Rows never leave the catalog; `semsearch forget` deletes them, and
they go with their file. `user_name`, not `user`: a reserved word on PostgreSQL.

Revision ID: 0015_add_events
Revises: 0014_add_space_precision
"""

import sqlalchemy as sa

from alembic import op

revision = "0015_add_events"
down_revision = "0014_add_space_precision"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("user_name", sa.String, nullable=False),
        sa.Column("file_id", BIG, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("query", sa.String, nullable=True),
        sa.Column("rank", sa.Integer, nullable=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_events_user_name_at", "events", ["user_name", "at"])
    op.create_index("ix_events_file_id", "events", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_events_file_id", "events")
    op.drop_index("ix_events_user_name_at", "events")
    op.drop_table("events")
