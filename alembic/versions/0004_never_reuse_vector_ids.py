"""Never reuse a vector id: the vectors table gets AUTOINCREMENT.

A vector's id is its HNSW label. Without AUTOINCREMENT SQLite hands the id of a
deleted last row to the next insert, so an index file saved before the delete
would hold that label with the old vector and nothing could tell. With it, a
label in any index file either names the very vector it was made from or none.

Revision ID: 0004_never_reuse_vector_ids
Revises: 0003_add_query_fingerprint
"""

from alembic import op

revision = "0004_never_reuse_vector_ids"
down_revision = "0003_add_query_fingerprint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # a PostgreSQL sequence never hands out an id twice
    # Recreating is safe here: no table refers to vectors, so dropping the old
    # copy cascades nowhere. The copy keeps every id and seeds sqlite_sequence.
    with op.batch_alter_table(
        "vectors", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "vectors", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
