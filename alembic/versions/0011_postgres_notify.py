"""On PostgreSQL, announce every committed write: what other processes' caches key on.

Each statement that changes files, chunks, vectors, image tags or spaces sends a
notification on the channel `semsearch_catalog` (collapsed to one per
transaction, delivered only once it commits). A searcher LISTENs and counts
them as its change stamp (catalog/postgres.py), so it knows, without asking
the database, when its cached label maps and HNSW index must catch up. SQLite
has its own stamp (`PRAGMA data_version`): nothing to do there.

Revision ID: 0011_postgres_notify
Revises: 0010_float16_vectors
"""

from alembic import op

revision = "0011_postgres_notify"
down_revision = "0010_float16_vectors"
branch_labels = None
depends_on = None

TABLES = ("files", "chunks", "vectors", "image_tags", "spaces")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION semsearch_notify() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('semsearch_catalog', ''); RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION semsearch_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_notify ON {table}")
    op.execute("DROP FUNCTION semsearch_notify()")
