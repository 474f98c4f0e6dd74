"""semsearch: local semantic search for folders of documents and images.

The library is one object, `Index`; see `searchengine.api`. Names are imported
on first use, so `import searchengine` stays cheap (no torch, no SQLAlchemy).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("semsearch")  # pyproject.toml's, the one place it is written
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "Index": "searchengine.api",
    "IndexStatus": "searchengine.api",
    "EvalReport": "searchengine.api",
    "RepairReport": "searchengine.api",
    "Settings": "searchengine.config",
    "Filters": "searchengine.filters",
    "make_filters": "searchengine.filters",
    "Encoders": "searchengine.models.encoders",
    "TextEncoding": "searchengine.models.encoders",
    "ImageEncoding": "searchengine.models.encoders",
    "Hit": "searchengine.records",
    "Results": "searchengine.records",
    "SearchEngineError": "searchengine.errors",
    "IndexReport": "searchengine.api",
    "ReembedReport": "searchengine.api",
}

__all__ = [
    "Encoders",
    "EvalReport",
    "Filters",
    "Hit",
    "ImageEncoding",
    "Index",
    "IndexReport",
    "IndexStatus",
    "ReembedReport",
    "RepairReport",
    "Results",
    "SearchEngineError",
    "Settings",
    "TextEncoding",
    "make_filters",
]

if TYPE_CHECKING:
    from searchengine.api import (
        EvalReport,
        Index,
        IndexReport,
        IndexStatus,
        ReembedReport,
        RepairReport,
    )
    from searchengine.config import Settings
    from searchengine.errors import SearchEngineError
    from searchengine.filters import Filters, make_filters
    from searchengine.models.encoders import Encoders, ImageEncoding, TextEncoding
    from searchengine.records import Hit, Results


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'searchengine' has no attribute {name!r}")
    return getattr(import_module(module), name)
