"""Add image tags: an image's confident labels (English and Korean) and their words.

`image_tags` keeps each image's labels with their confidence, best first.
`tag_terms`, an FTS5 table under the image file's id as rowid, holds the
labels' analysed terms, so `에스프레소` or `espresso` finds the picture by words
as well as by meaning. A trigger drops both with the file. The DDL is frozen
here as in 0008 (catalog/terms.py makes the same tables today).

Revision ID: 0009_add_image_tags
Revises: 0008_add_chunk_terms
"""

import sqlalchemy as sa

from alembic import op

revision = "0009_add_image_tags"
down_revision = "0008_add_chunk_terms"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as in 0001


def upgrade() -> None:
    op.create_table(
        "image_tags",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("file_id", BIG, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("en", sa.String, nullable=False),
        sa.Column("ko", sa.String, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
    )
    op.create_index("ix_image_tags_file_id", "image_tags", ["file_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE tag_terms (rowid BIGINT PRIMARY KEY REFERENCES files(id) "
            "ON DELETE CASCADE, terms TEXT NOT NULL, tsv TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_tag_terms_tsv ON tag_terms USING GIN (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE tag_terms USING fts5("
            "terms, tokenize = 'unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER tag_terms_follow_delete AFTER DELETE ON files "
            "BEGIN DELETE FROM tag_terms WHERE rowid = old.id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER tag_terms_follow_delete")
    op.execute("DROP TABLE tag_terms")
    op.drop_index("ix_image_tags_file_id", "image_tags")
    op.drop_table("image_tags")
