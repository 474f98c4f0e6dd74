"""Files inside files: a mail's attachments are items of their own, under the mail.

`files.parent_id` is the file that holds an item (the mail); NULL for every file on
disk, which is every file written before. An attached item's path is the mail's path,
'/', its place in the mail ('2/report.pdf'): never a path on disk, since the mail is a
file and not a folder. It goes with its mail: deleted, re-read or renamed with it.

Revision ID: 0013_add_file_parent
Revises: 0012_add_chunk_ocr
"""

import sqlalchemy as sa

from alembic import op

revision = "0013_add_file_parent"
down_revision = "0012_add_chunk_ocr"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # a plain ADD COLUMN, which SQLite takes with a REFERENCES clause when the default is
        # NULL (Alembic would recreate `files`, dropping the triggers that follow it)
        op.execute(
            "ALTER TABLE files ADD COLUMN parent_id INTEGER REFERENCES files (id) ON DELETE CASCADE"
        )
    else:
        op.add_column(
            "files",
            sa.Column(
                "parent_id",
                BIG,
                sa.ForeignKey("files.id", name="fk_files_parent", ondelete="CASCADE"),
                nullable=True,
            ),
        )
    op.create_index("ix_files_parent_id", "files", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_files_parent_id", "files")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_files_parent", "files", type_="foreignkey")
    op.execute("ALTER TABLE files DROP COLUMN parent_id")  # native DROP COLUMN (SQLite 3.35+)
