"""Add the lexical (BM25) index: an FTS5 table of each chunk's analysed terms.

`chunk_terms` holds, under the chunk's id as rowid, the analysed terms of its
text (Korean morphemes, other words casefolded), so `자동차를` in a query finds
`자동차` in a chunk. Rows are written in the transaction that writes the chunk;
a trigger removes them with the chunk, including deletions cascaded from `files`.

The migration makes the table and analyses nothing: the terms are whatever
today's analyser makes, which this file must not import (it would change when
the analyser does). Existing chunks are left without rows, the marker that
opening the catalog reads (`Catalog.lexical_pending`) before the application
writes them with its analyser (store/folder.py).

The DDL is frozen here, as it was when written, for SQLite (FTS5) and
PostgreSQL (a tsvector column with a GIN index); catalog/terms.py makes the
same tables today.

Revision ID: 0008_add_chunk_terms
Revises: 0007_add_skip_limits
"""

from alembic import op

revision = "0008_add_chunk_terms"
down_revision = "0007_add_skip_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE chunk_terms (rowid BIGINT PRIMARY KEY REFERENCES chunks(id) "
            "ON DELETE CASCADE, terms TEXT NOT NULL, tsv TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_chunk_terms_tsv ON chunk_terms USING GIN (tsv)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE chunk_terms USING fts5("
        "terms, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER chunk_terms_follow_delete AFTER DELETE ON chunks "
        "BEGIN DELETE FROM chunk_terms WHERE rowid = old.id; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER chunk_terms_follow_delete")
    op.execute("DROP TABLE chunk_terms")
