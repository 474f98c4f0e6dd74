"""Bring a catalog's schema to the newest Alembic migration when it is opened."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from .errors import CatalogTooNewError

log = logging.getLogger(__name__)

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


def upgrade_to_head(engine: Engine) -> None:
    """Apply the Alembic migrations that this catalog lacks."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise CatalogTooNewError(
            f"the catalog is at schema {current!r}, newer than this semsearch knows "
            f"(head {head!r}); upgrade semsearch"
        )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("catalog schema upgraded from %s to %s", current, head)
