"""The one error tree of semsearch.

SearchEngineError                  base: the CLI prints its message, exits non-zero
├── ConfigError                    bad option, model spec or path given by the user
├── ModelUnavailableError          a model cannot be loaded on this machine
├── CatalogError                   the catalog cannot be opened or used
│   ├── CatalogTooNewError         the catalog was written by a newer semsearch
│   └── ModelMismatchError         the index was built with other models
├── IndexCorruptError              an index file does not match the catalog
├── ExtractionError                one file could not be read (the run goes on)
│   └── FileChangedError           it changed or vanished while being read (retried next run)
└── LockedError                    another process is writing to the index
"""

from __future__ import annotations


class SearchEngineError(Exception):
    """Base of every error semsearch raises on purpose."""

    exit_code = 1


class ConfigError(SearchEngineError):
    """A bad option, model spec or path given by the user."""

    exit_code = 2


class ModelUnavailableError(SearchEngineError):
    """A model cannot be loaded on this machine."""

    exit_code = 3


class CatalogError(SearchEngineError):
    """The catalog cannot be opened or used."""

    exit_code = 4


class CatalogTooNewError(CatalogError):
    """The catalog was written by a newer version of semsearch."""


class ModelMismatchError(CatalogError):
    """The index was built with other models than the ones asked for."""


class IndexCorruptError(SearchEngineError):
    """An index file does not match the catalog."""

    exit_code = 4


class ExtractionError(SearchEngineError):
    """One file could not be read; its message is the skip reason."""


class FileChangedError(ExtractionError):
    """A file changed or vanished while being read; the next run tries it again."""


class LockedError(SearchEngineError):
    """Another process holds the writer lock of this index."""

    exit_code = 5
