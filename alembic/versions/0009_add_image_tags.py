"""Add image tags: an image's confident labels (English and Korean) and their words.

`image_tags` keeps each image's labels with their confidence, best first.
`tag_terms`, an FTS5 table under the image file's id as rowid, holds the
labels as terms of `searchengine.lexical.index_text`, so `에스프레소` or
`espresso` finds the picture by words as well as by meaning. A trigger drops
both with the file.

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
    from searchengine.catalog.terms import create_terms_table

    create_terms_table(op.get_bind(), "tag_terms", "files")


def downgrade() -> None:
    from searchengine.catalog.terms import drop_terms_table

    drop_terms_table(op.get_bind(), "tag_terms")
    op.drop_index("ix_image_tags_file_id", "image_tags")
    op.drop_table("image_tags")
