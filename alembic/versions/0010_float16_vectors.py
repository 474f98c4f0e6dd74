"""Store vectors as float16: half the catalog, results within ~1e-4 of cosine.

Every float32 vector blob (length 4 x its space's dim) is rewritten as float16
(2 x dim). An index file saved from the float32 vectors then no longer matches
the catalog under the same labels, so the store treats it as foreign and
rebuilds it from the catalog, which is the truth, on the next open. Downgrade
widens the blobs back to float32 (the precision lost stays lost).

Revision ID: 0010_float16_vectors
Revises: 0009_add_image_tags
"""

import numpy as np
import sqlalchemy as sa

from alembic import op

revision = "0010_float16_vectors"
down_revision = "0009_add_image_tags"
branch_labels = None
depends_on = None

BATCH = 5_000


def _convert(from_bytes: int, source: type, target: type) -> None:
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT v.id, v.data FROM vectors v JOIN spaces s ON s.name = v.space "
                "WHERE v.id > :last AND length(v.data) = s.dim * :width ORDER BY v.id LIMIT :n"
            ),
            {"last": last, "width": from_bytes, "n": BATCH},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text("UPDATE vectors SET data = :data WHERE id = :id"),
            [
                {"id": r[0], "data": np.frombuffer(r[1], dtype=source).astype(target).tobytes()}
                for r in rows
            ],
        )
        last = rows[-1][0]


def upgrade() -> None:
    _convert(4, np.float32, np.float16)


def downgrade() -> None:
    _convert(2, np.float16, np.float32)
