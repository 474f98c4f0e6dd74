"""What the server answers besides a route's own JSON, said once for every route.

- `HTTP_STATUS`: the library's errors as HTTP statuses, the server's counterpart
  of the CLI's exit-code table.
- `ErrorBody`: the one shape of every error answer, whoever refuses (a route,
  the library, FastAPI's validation, the guard in front).
- `errors(...)`: the statuses a route declares in the OpenAPI document, each
  with that body, so that a client written elsewhere knows what can come back.
- `binary(...)`: the media types of a route that answers with a file.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from searchengine.errors import (
    CatalogError,
    ConfigError,
    ExtractionError,
    IndexCorruptError,
    LockedError,
    ModelMismatchError,
    ModelUnavailableError,
    NoIndexError,
    SearchEngineError,
    VocabularyError,
)
from searchengine.files import FORMATS

# The server's vocabulary for the library's errors: the first class that matches wins.
HTTP_STATUS: tuple[tuple[type[SearchEngineError], int], ...] = (
    (LockedError, 503),
    (NoIndexError, 503),
    (ModelMismatchError, 409),
    (CatalogError, 500),
    (IndexCorruptError, 500),
    (ModelUnavailableError, 503),
    (ExtractionError, 422),
    (VocabularyError, 404),  # no word vectors, or a word the collection does not use
    (ConfigError, 400),
    (SearchEngineError, 500),
)


def http_status(exc: SearchEngineError) -> int:
    return next(code for cls, code in HTTP_STATUS if isinstance(exc, cls))


class ErrorBody(BaseModel):
    """Every error answer: a message a person can act on, and what refused the request."""

    error: str = Field(description="what went wrong, and where it helps, what to do")
    type: str | None = Field(
        None, description="the library's error class (ConfigError, NoIndexError, ...), if one"
    )
    parameter: str | None = Field(None, description="the parameter that was refused, if one")
    detail: list[dict[str, Any]] | None = Field(
        None, description="422 from validation only: one entry per refused value (FastAPI's list)"
    )


# What each status means wherever it is declared; a route may say more of its own.
MEANING = {
    400: "a parameter the server refuses (named in `parameter`), a foreign `Host` header "
    "or a bad `Content-Length`",
    401: "the server was started with a token, and the request does not carry it",
    403: "a cross-site request that would change something",
    404: "nothing here by that id or name",
    413: "the request body is over the server's upload limit",
    415: "the upload is not a picture of a supported format",
    422: "a parameter outside its declared type or range (see `detail`)",
}
# Every route reads the index; these come from the library, whichever route it is.
INDEX_STATUSES = (409, 500, 503)
GUARD_STATUSES = (400, 401)  # the guard in front of every route: Host and token


def library_meaning(status: int) -> str:
    """The library errors that become `status`, each with its one-line docstring."""
    classes = [cls for cls, code in HTTP_STATUS if code == status and cls is not SearchEngineError]
    return "; ".join(
        f"{cls.__name__}: {(cls.__doc__ or '').strip().rstrip('.')}" for cls in classes
    )


def errors(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the statuses it answers besides 200, each with ErrorBody.

    The guard's and the index's statuses are always there; `meanings` (`e404="..."`)
    replace the general meaning of a status where the route knows better.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, *GUARD_STATUSES, *INDEX_STATUSES}):
        meaning = meanings.get(f"e{status}") or MEANING.get(status) or library_meaning(status)
        out[status] = {"model": ErrorBody, "description": meaning[:1].upper() + meaning[1:]}
    return out


def file_media_types(extensions: Iterable[str]) -> list[str]:
    """The media types the server gives files with these extensions (as `original` does)."""
    types = {mimetypes.guess_type("f" + ext)[0] or "application/octet-stream" for ext in extensions}
    return sorted(types | {"application/octet-stream"})


def binary(description: str, media_types: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for a 200 that is a file, not JSON."""
    schema = {"type": "string", "format": "binary"}
    content = {media: {"schema": schema} for media in media_types}
    return {200: {"description": description, "content": content}}


ALL_EXTENSIONS = tuple(e for exts in FORMATS.values() for e in exts)
