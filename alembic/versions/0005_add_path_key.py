"""A file's identity is its path in Unicode NFC form (macOS writes NFD names).

``files.path`` stays the name on disk, used to open and show the file;
``files.path_key`` is its NFC form, unique, used to recognise the file. Should
an old catalog hold one name in both forms, the later row is dropped (its
vectors go with it and the index files catch up on open).

Revision ID: 0005_add_path_key
Revises: 0004_never_reuse_vector_ids
"""

import unicodedata

import sqlalchemy as sa

from alembic import op

revision = "0005_add_path_key"
down_revision = "0004_never_reuse_vector_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN only: recreating `files` would drop it, and with foreign keys
    # on that would cascade into every chunk and vector.
    op.add_column("files", sa.Column("path_key", sa.String, nullable=True))
    conn = op.get_bind()
    seen: set[str] = set()
    for file_id, path in conn.execute(sa.text("SELECT id, path FROM files ORDER BY id")).all():
        key = unicodedata.normalize("NFC", path)
        if key in seen:
            for table, column in (("vectors", "file_id"), ("chunks", "file_id"), ("files", "id")):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE {column} = :id"), {"id": file_id})
            continue
        seen.add(key)
        conn.execute(
            sa.text("UPDATE files SET path_key = :key WHERE id = :id"), {"key": key, "id": file_id}
        )
    op.create_index("ix_files_path_key", "files", ["path_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_files_path_key", "files")
    # native DROP COLUMN (SQLite 3.35+): a batch recreate would cascade as above
    op.execute("ALTER TABLE files DROP COLUMN path_key")
