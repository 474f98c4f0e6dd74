"""The catalog: the SQLite (or any SQLAlchemy) database that is the truth of an index.

`db` holds the `Catalog` class, built on `connection` (the engine and its
sessions); `schema` its tables, owned by the Alembic migrations that `migrate`
applies on open; `rows` the records it hands out; `search`, `tags` and `upkeep`
its query-time, image-tag and maintenance reads and writes.
"""

from searchengine.catalog.db import Catalog
from searchengine.catalog.rows import (
    FileState,
    NewItem,
    SpaceInfo,
    as_stored,
    is_staging,
    staging_name,
)
from searchengine.files import path_key

__all__ = [
    "Catalog",
    "FileState",
    "NewItem",
    "SpaceInfo",
    "as_stored",
    "is_staging",
    "path_key",
    "staging_name",
]
