"""Alembic environment: semsearch passes a live connection; the CLI passes `-x db=`."""

from __future__ import annotations

from sqlalchemy import create_engine

from alembic import context

config = context.config


def _url() -> str:
    db = context.get_x_argument(as_dictionary=True).get("db")
    if db:
        return f"sqlite:///{db}"
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from searchengine.config import Settings
    from searchengine.store import CATALOG_NAME

    return f"sqlite:///{Settings().index_dir / CATALOG_NAME}"


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _url()
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
