"""Add the lexical (BM25) index: an FTS5 table of each chunk's analysed terms.

`chunk_terms` holds, under the chunk's id as rowid, the terms that
`searchengine.lexical.index_text` makes of its text (Korean morphemes, other
words casefolded), so `자동차를` in a query finds `자동차` in a chunk. Rows are
written by the catalog in the transaction that writes the chunk; a trigger
removes them with the chunk, including deletions cascaded from `files`.
Existing chunks are analysed here once.

Revision ID: 0008_add_chunk_terms
Revises: 0007_add_skip_limits
"""

import sqlalchemy as sa

from alembic import op

revision = "0008_add_chunk_terms"
down_revision = "0007_add_skip_limits"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    from searchengine.catalog.terms import create_terms_table, insert_terms
    from searchengine.lexical import index_text

    # FTS5 on SQLite, a tsvector column with a GIN index on PostgreSQL (catalog/terms.py)
    create_terms_table(op.get_bind(), "chunk_terms", "chunks")
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, text FROM chunks WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        insert_terms(conn, "chunk_terms", [(r[0], index_text(r[1])) for r in rows])
        last = rows[-1][0]


def downgrade() -> None:
    from searchengine.catalog.terms import drop_terms_table

    drop_terms_table(op.get_bind(), "chunk_terms")
