"""Bring a catalog's schema to the newest Alembic migration when it is opened."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from searchengine.errors import CatalogError, CatalogTooNewError

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parents[1]
# An installed wheel carries alembic/ as searchengine/migrations (see pyproject's
# package-dir); a source checkout runs them from alembic/ beside the package.
MIGRATION_DIRS = (_PACKAGE / "migrations", _PACKAGE.parent / "alembic")


def migrations_dir() -> Path:
    """The folder of the Alembic scripts this semsearch upgrades catalogs with."""
    for candidate in MIGRATION_DIRS:
        if (candidate / "env.py").is_file() and (candidate / "versions").is_dir():
            return candidate
    raise CatalogError(
        "the catalog migrations are missing from this installation "
        f"(looked in {', '.join(str(d) for d in MIGRATION_DIRS)}); reinstall semsearch"
    )


# The newest migration; a catalog already there opens without importing Alembic
# (a tenth of a second of every one-shot search). tests/test_catalog.py checks that
# this is Alembic's own head.
HEAD_REVISION = "0018_add_chunk_term_spans"
_MIGRATING = "semsearch: migrating the catalog"


def current_revision(engine: Engine) -> str | None:
    """The catalog's schema revision, read with plain SQL; None for a new catalog."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_to_head(engine: Engine) -> None:
    """Apply the Alembic migrations that this catalog lacks."""
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    try:
        script = ScriptDirectory.from_config(cfg)
    except CommandError as exc:
        raise CatalogError(f"the catalog migrations cannot be read: {exc}") from exc
    head = script.get_current_head()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # processes opening a new shared catalog at once: one migrates, the others
            # wait here and then find it done (DDL is transactional on PostgreSQL)
            from sqlalchemy import text

            from searchengine.catalog.postgres import lock_key

            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(_MIGRATING)})
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        if current is not None and current not in {r.revision for r in script.walk_revisions()}:
            raise CatalogTooNewError(
                f"the catalog is at schema {current!r}, newer than this semsearch knows "
                f"(head {head!r}); upgrade semsearch"
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("catalog schema upgraded from %s to %s", current, head)
