"""The one error tree of semsearch.

SearchEngineError                  base of every error raised on purpose
├── ConfigError                    bad option, model spec or path given by the user
├── ModelUnavailableError          a model cannot be loaded on this machine
├── CatalogError                   the catalog cannot be opened or used
│   ├── NoIndexError               there is no index in that folder yet
│   ├── CatalogTooNewError         the catalog was written by a newer semsearch
│   └── ModelMismatchError         the index was built with other models
├── IndexCorruptError              an index file does not match the catalog
├── ExtractionError                one file could not be read (the run goes on)
│   └── FileChangedError           it changed or vanished while being read (retried next run)
├── LockedError                    another process is writing to the index
└── VocabularyError                the collection's word vectors cannot answer
    ├── NoWordVectorsError         none were trained (too little text, or turned off)
    └── UnknownWordError           a word does not occur (often enough) in the collection

The library only raises; each front end maps these to its own vocabulary
(the CLI's exit codes are a table in `searchengine/cli/app.py`). Errors carry
their facts as attributes, and their messages name no command-line flag.
"""

from __future__ import annotations

from pathlib import Path


class SearchEngineError(Exception):
    """Base of every error semsearch raises on purpose."""


class ConfigError(SearchEngineError):
    """A bad option, model spec or path given by the user."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter  # the library parameter at fault, e.g. "after"


class ModelUnavailableError(SearchEngineError):
    """A model cannot be loaded on this machine."""


class CatalogError(SearchEngineError):
    """The catalog cannot be opened or used."""


class NoIndexError(CatalogError):
    """There is no index in that folder yet."""

    def __init__(self, index_dir: Path):
        super().__init__(f"no index at {index_dir}")
        self.index_dir = index_dir


class CatalogTooNewError(CatalogError):
    """The catalog was written by a newer version of semsearch."""


class ModelMismatchError(CatalogError):
    """The index was built with other models than the ones asked for."""


class IndexCorruptError(SearchEngineError):
    """An index file does not match the catalog."""


class ExtractionError(SearchEngineError):
    """One file could not be read; its message is the skip reason."""


class FileChangedError(ExtractionError):
    """A file changed or vanished while being read; the next run tries it again."""


class LockedError(SearchEngineError):
    """Another process holds the writer lock of this index."""

    def __init__(self, index_dir: Path | str, holder: str):
        super().__init__(f"{index_dir} is being written by {holder}; wait for it to finish")
        self.index_dir = index_dir
        self.holder = holder


class VocabularyError(SearchEngineError):
    """The collection's word vectors cannot answer this question."""


class NoWordVectorsError(VocabularyError):
    """No word vectors were trained for this collection (too little text, or turned off)."""


class UnknownWordError(VocabularyError):
    """A word does not occur, or too rarely, in the collection's text."""

    def __init__(self, word: str, method: str, asked: str | None = None):
        said = f"{word!r}" + (f" (from {asked!r})" if asked and asked != word else "")
        super().__init__(
            f"{said} does not occur often enough in this collection to have a {method} vector"
        )
        self.word = word
        self.method = method
        self.asked = asked or word
