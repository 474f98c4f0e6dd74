"""Record which text model's query vectors are also a space's text queries.

A CLIP whose text tower is the text model itself (the shipped one) puts text
queries where the text space puts them; knowing it lets a text search skip
loading the CLIP.

Revision ID: 0003_add_query_fingerprint
Revises: 0002_add_skip_reason
"""

import sqlalchemy as sa

from alembic import op

revision = "0003_add_query_fingerprint"
down_revision = "0002_add_skip_reason"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.add_column(sa.Column("query_fingerprint", sa.String, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.drop_column("query_fingerprint")
