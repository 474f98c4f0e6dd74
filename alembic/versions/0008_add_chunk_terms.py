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
    from searchengine.lexical import index_text

    op.execute(
        "CREATE VIRTUAL TABLE chunk_terms USING fts5("
        "terms, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER chunk_terms_follow_delete AFTER DELETE ON chunks "
        "BEGIN DELETE FROM chunk_terms WHERE rowid = old.id; END"
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, text FROM chunks WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        conn.execute(
            sa.text("INSERT INTO chunk_terms(rowid, terms) VALUES (:id, :terms)"),
            [{"id": r[0], "terms": index_text(r[1])} for r in rows],
        )
        last = rows[-1][0]


def downgrade() -> None:
    op.execute("DROP TRIGGER chunk_terms_follow_delete")
    op.execute("DROP TABLE chunk_terms")
