"""Rows of the lexical index (`chunk_terms`, `tag_terms`), written the same way on
SQLite (FTS5 tables) and PostgreSQL (tables with a tsvector column, postgres.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from searchengine.catalog.postgres import tsvector_text

Bind = Session | Connection | Engine  # what runs the statements here


def is_postgres(bind: Bind) -> bool:
    """Whether a session, connection or engine talks to PostgreSQL."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return bool(engine.dialect.name == "postgresql")


def insert_terms(bind: Session | Connection, table: str, rows: Sequence[tuple[int, str]]) -> None:
    """Insert (rowid, analysed terms) rows into a lexical table."""
    if not rows:
        return
    if is_postgres(bind):
        bind.execute(
            sql_text(
                f"INSERT INTO {table}(rowid, terms, tsv) "
                "VALUES (:id, :terms, CAST(:tsv AS tsvector))"
            ),
            [{"id": i, "terms": t, "tsv": tsvector_text(t)} for i, t in rows],
        )
    else:
        bind.execute(
            sql_text(f"INSERT INTO {table}(rowid, terms) VALUES (:id, :terms)"),
            [{"id": i, "terms": t} for i, t in rows],
        )


def create_terms_table(bind: Session | Connection, table: str, owner: str) -> None:
    """The lexical table for rows of `owner` (chunks or files), with its clean-up on delete."""
    if is_postgres(bind):
        bind.execute(
            sql_text(
                f"CREATE TABLE {table} (rowid BIGINT PRIMARY KEY REFERENCES {owner}(id) "
                "ON DELETE CASCADE, terms TEXT NOT NULL, tsv TSVECTOR NOT NULL)"
            )
        )
        bind.execute(sql_text(f"CREATE INDEX ix_{table}_tsv ON {table} USING GIN (tsv)"))
        return
    bind.execute(
        sql_text(
            f"CREATE VIRTUAL TABLE {table} USING fts5("
            "terms, tokenize = 'unicode61 remove_diacritics 2')"
        )
    )
    bind.execute(
        sql_text(
            f"CREATE TRIGGER {table}_follow_delete AFTER DELETE ON {owner} "
            f"BEGIN DELETE FROM {table} WHERE rowid = old.id; END"
        )
    )


def drop_terms_table(bind: Session | Connection, table: str) -> None:
    if not is_postgres(bind):
        bind.execute(sql_text(f"DROP TRIGGER {table}_follow_delete"))
    bind.execute(sql_text(f"DROP TABLE {table}"))
