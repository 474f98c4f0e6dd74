"""Record what each space's vectors were computed in, for `semsearch status`.

Indexing runs in bf16 by default where the CPU has bfloat16 instructions and in fp32
elsewhere (or with --fp32), so two indexes of the same folder by the same model may
differ in the last digits of their vectors. `spaces.precision` says which: "fp32",
"bf16", or "bf16+fp32" when runs differed. NULL for a space written before: its
precision was not recorded (fp32, unless it was indexed with --bf16).

Revision ID: 0014_add_space_precision
Revises: 0013_add_file_parent
"""

import sqlalchemy as sa

from alembic import op

revision = "0014_add_space_precision"
down_revision = "0013_add_file_parent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN, as 0012 does
    op.add_column("spaces", sa.Column("precision", sa.String, nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE spaces DROP COLUMN "precision"')  # native DROP COLUMN (SQLite 3.35+)
