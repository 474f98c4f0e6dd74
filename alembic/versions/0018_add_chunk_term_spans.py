"""Keep where each term of a chunk's lexical row stands in its text.

`chunks.term_spans` holds, for each term of the chunk's `chunk_terms` row in order,
its start (past the one before) and length, as `lexical.term_spans` writes them. A
snippet then highlights the query's terms in a hit without running the analyser
(kiwi, for Hangul) over its text at query time, the slowest searches' largest cost
(issue 30). NULL: not kept (every chunk written before this revision); a snippet
analyses such a chunk's text as before.

Revision ID: 0018_add_chunk_term_spans
Revises: 0017_add_vector_pieces
"""

import sqlalchemy as sa

from alembic import op

revision = "0018_add_chunk_term_spans"
down_revision = "0017_add_vector_pieces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN, as 0012 does: recreating `chunks` would drop its triggers
    op.add_column("chunks", sa.Column("term_spans", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE chunks DROP COLUMN term_spans")  # native DROP COLUMN (SQLite 3.35+)
