"""The search routes: text queries (GET or POST), image uploads, more like an item.

Each translates HTTP parameters into one `Index` call and its `Results` into
`Results.to_json()`, plus for each hit its catalog `id` and `thumb_url`, the
time taken, and an opaque `next` cursor for the following page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, Field, model_validator

from searchengine.api import Index
from searchengine.config import LOCAL_USER
from searchengine.errors import ConfigError
from searchengine.files import FORMAT_NAMES, FORMATS
from searchengine.filters import DOMAINS, FILE_KINDS, Filters, make_filters
from searchengine.records import Mode, Results, Sort, Space
from searchengine.server.responses import errors
from searchengine.server.thumbs import has_thumbnail

MAX_K = 100
MAX_QUERY_CHARS = 2000
MAX_OFFSET = 10_000  # how deep the cursor pages go
DEFAULT_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ITEM_ID = 2**63 - 1  # catalog ids are 64-bit (BigInteger; SQLite's INTEGER)

ItemId = Annotated[
    int, PathParam(ge=1, le=MAX_ITEM_ID, description="a catalog id, as a hit's `id` gives it")
]

# What the schema promises each filter takes; an empty value is the same as none.
# A format is one name of FORMAT_NAMES, exactly as the schema lists it: anything else
# (`pdf,md`, `PDF`, `jpeg`) is a 422, so the document and the server agree. (The command
# line, typed by people, takes those spellings.) `kind` is the old name of `format`.
FORMAT: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "enum": ["", *FORMAT_NAMES]},
}
KIND: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": ["", *FILE_KINDS]}}
DOMAIN: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": ["", *DOMAINS]}}
OLD: dict[str, Any] = {"deprecated": True}
WHEN: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": "^[0-9]{1,5}[dwmy]$"},  # an age: 7d, 2w, 3m, 1y
        {"type": "string", "maxLength": 0},
    ]
}
# An absolute path with no `..` part and no NUL (what `filters_of` takes), on POSIX:
# each part is empty, `.`, or a name that is not `..`.
PART = r"(?:[^/.\x00][^/\x00]*|\.(?:[^/.\x00][^/\x00]*)?|\.\.[^/\x00]+)?"
FOLDER: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "pattern": f"^(?:(?:/{PART})+)?$" if os.sep == "/" else ""},
}
CURSOR: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}


def declared(schema: dict[str, Any], *, nullable: bool = True) -> dict[str, Any]:
    """`json_schema_extra` that puts `schema` in place of the field's own type: null
    where JSON can send it, never in a form, which has no null."""
    return {"anyOf": [schema, {"type": "null"}] if nullable else [schema]}


# What an upload must start with to be decoded at all (the decoder checks the rest),
# and the format (a name of files.FORMATS) that says so.
IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)

router = APIRouter(prefix="/api")


def one_of(allowed: tuple[str, ...], name: str) -> AfterValidator:
    """A validator that takes only `allowed` (or '', none): a 422 names the choices."""
    choices = ("", *allowed)

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(allowed)}")
        return value

    return AfterValidator(check)


FormatName = Annotated[str, one_of(FORMAT_NAMES, "format")]
KindName = Annotated[str, one_of(FILE_KINDS, "kind")]
DomainName = Annotated[str, one_of(DOMAINS, "domain")]


class SearchRequest(BaseModel):
    """A text search; GET takes the same fields as query parameters."""

    q: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="the query, in any language"
    )
    mode: Mode = "hybrid"
    k: int = Field(10, ge=1, le=MAX_K)
    space: Space | None = Field(None, description="only documents (text) or only images")
    format: list[FormatName] = Field(
        default_factory=list,
        description="file formats: pdf, md, jpg, ...",
        json_schema_extra=declared(FORMAT),
    )
    folder: list[str] = Field(
        default_factory=list,
        description="absolute folders or files",
        json_schema_extra=declared(FOLDER),
    )
    glob: list[str] = Field(default_factory=list, description="patterns on the name or path")
    after: str | None = Field(
        None,
        description="modified on or after: 2024-05-01 or 30d",
        json_schema_extra=declared(WHEN),
    )
    before: str | None = Field(
        None, description="modified before", json_schema_extra=declared(WHEN)
    )
    domain: list[DomainName] = Field(
        default_factory=list,
        description="pictures of these kinds only: photo, drawing, text",
        json_schema_extra=declared(DOMAIN),
    )
    sort: Sort = Field(
        "relevance", description="relevance, or date: the good matches, newest first"
    )
    next: str | None = Field(
        None, description="the cursor of the previous page", json_schema_extra=declared(CURSOR)
    )
    type: Space | None = Field(None, description="the old name of `space`", json_schema_extra=OLD)
    kind: list[KindName] = Field(
        default_factory=list,
        description="the old name of `format`; it also takes text and image",
        json_schema_extra={**declared(KIND), **OLD},
    )

    @model_validator(mode="after")
    def _old_names(self) -> SearchRequest:
        """A request in the old words is the same request (and cursor) in the new ones."""
        self.space = self.space or self.type
        self.format = [*self.format, *self.kind]
        self.type, self.kind = None, []
        return self


def index_of(request: Request) -> Index:
    index: Index = request.app.state.index
    return index


def user_of(request: Request) -> str:
    """Who this request is: the user its token names (security.Guard), or the local user."""
    return str(getattr(request.state, "user", None) or LOCAL_USER)


def filters_of(
    format: list[str],
    folder: list[str],
    glob: list[str],
    after: str | None,
    before: str | None,
    domain: list[str] | None = None,
) -> Filters:
    folder = [value for value in folder if value]  # an empty form field: no folder
    for value in folder:
        # a folder filter only narrows results, never reads a file; still, a relative
        # path would be read against the server's working folder, which no client knows
        if not os.path.isabs(value) or ".." in Path(value).parts or "\x00" in value:
            raise ConfigError(f"folder {value!r}: give an absolute path", parameter="folder")
    return make_filters(folder, glob, format, after, before, domains=domain or ())


def _digest(params: dict[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cursor_offset(cursor: str | None, params: dict[str, Any]) -> int:
    """The offset a cursor points at; it must come from the same query."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==="))
        offset, digest = int(data["o"]), str(data["d"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError("next: not a cursor this server gave", parameter="next") from None
    if digest != _digest(params) or not 0 <= offset <= MAX_OFFSET:
        raise ConfigError("next: the cursor belongs to another query", parameter="next")
    return offset


def make_cursor(offset: int, params: dict[str, Any]) -> str:
    raw = json.dumps({"o": offset, "d": _digest(params)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page(results: Results, params: dict[str, Any], started: float) -> dict[str, Any]:
    """`Results.to_json()` with ids, thumbnail and file links, timing and the cursor."""
    out = results.to_json()
    for hit, shown in zip(results.hits, out["hits"], strict=True):  # type: ignore[call-overload]
        shown["id"] = hit.file_id
        shown["thumb_url"] = (
            f"/api/thumbs/{hit.file_id}" if has_thumbnail(hit.kind, hit.path) else None
        )
        shown["file_url"] = f"/api/files/{hit.file_id}"
    full = len(results.hits) == results.k
    out["next"] = make_cursor(results.offset + results.k, params) if full else None
    out["notes"] = list(results.notes)
    out["took_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return out


def run_search(index: Index, req: SearchRequest, user: str = LOCAL_USER) -> dict[str, Any]:
    """One page of a search for `user` (whose learned preferences may reorder it)."""
    started = time.perf_counter()
    params = req.model_dump(exclude={"next"})
    offset = cursor_offset(req.next, params)
    results = index.search(
        req.q,
        k=req.k,
        mode=req.mode,
        spaces={req.space} if req.space else None,
        filters=filters_of(req.format, req.folder, req.glob, req.after, req.before, req.domain),
        offset=offset,
        sort=req.sort,
        user=user,
    )
    return page(results, params, started)


SEARCH_ERRORS = errors(
    400, 422, e400="a filter or cursor the server refuses (named in `parameter`)"
)


@router.get(
    "/search",
    summary="Search documents and images by meaning and words",
    responses=SEARCH_ERRORS,
)
def search_get(request: Request, req: Annotated[SearchRequest, Query()]) -> dict[str, Any]:
    return run_search(index_of(request), req, user_of(request))


@router.post(
    "/search",
    summary="Search, with the parameters as a JSON body",
    responses={**SEARCH_ERRORS, **errors(403, 413)},
)
def search_post(request: Request, req: SearchRequest) -> dict[str, Any]:
    return run_search(index_of(request), req, user_of(request))


def sniff_image(head: bytes) -> str | None:
    """The image format an upload starts like (a name of files.FORMATS), else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((name for magic, name in IMAGE_MAGIC if head.startswith(magic)), None)


@router.post(
    "/search/image",
    summary="Images that look like an uploaded picture",
    responses=errors(
        400,
        403,
        413,
        415,
        422,
        e400="a filter or cursor the server refuses (named in `parameter`)",
        e413="the image is over the server's upload limit",
        e422="a parameter outside its type or range (see `detail`), or an unreadable picture",
    ),
)
def search_image(
    request: Request,
    image: Annotated[UploadFile, File(description="a PNG, JPEG, GIF, WebP, BMP or TIFF")],
    k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
    format: Annotated[
        list[FormatName] | None, Form(json_schema_extra=declared(FORMAT, nullable=False))
    ] = None,
    folder: Annotated[
        list[str] | None, Form(json_schema_extra=declared(FOLDER, nullable=False))
    ] = None,
    glob: Annotated[list[str] | None, Form()] = None,
    after: Annotated[str | None, Form(json_schema_extra=declared(WHEN, nullable=False))] = None,
    before: Annotated[str | None, Form(json_schema_extra=declared(WHEN, nullable=False))] = None,
    next: Annotated[str | None, Form(json_schema_extra=declared(CURSOR, nullable=False))] = None,
    domain: Annotated[
        list[DomainName] | None, Form(json_schema_extra=declared(DOMAIN, nullable=False))
    ] = None,
    kind: Annotated[
        list[KindName] | None,
        Form(
            description="the old name of `format`",
            json_schema_extra={**declared(KIND, nullable=False), **OLD},
        ),
    ] = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    formats = [*(format or []), *(kind or [])]
    filters = filters_of(formats, folder or [], glob or [], after, before, domain or [])
    limit: int = request.app.state.max_upload
    data = image.file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the image is over the limit of {limit} bytes")
    sniffed = sniff_image(data[:16])
    if sniffed is None:
        raise HTTPException(415, "not an image: send a PNG, JPEG, GIF, WebP, BMP or TIFF")
    params = {
        "image": hashlib.sha256(data).hexdigest(),
        "k": k,
        "filters": [formats, folder, glob, after, before, domain],  # as given: "30d" moves
    }
    offset = cursor_offset(next, params)
    with tempfile.TemporaryDirectory(prefix="semsearch-upload-") as tmp:
        path = Path(tmp) / ("query" + FORMATS[sniffed][0])
        path.write_bytes(data)
        results = index_of(request).search(image=path, k=k, offset=offset, filters=filters)
    shown = page(results, params, started)
    shown["query"] = image.filename or "uploaded image"  # not the temporary path
    return shown


@router.get(
    "/items/{item_id}/similar",
    summary="More like this item",
    responses=errors(
        400,
        404,
        422,
        e400="a cursor the server refuses (`parameter` is `next`)",
        e404="no item by that id",
    ),
)
def similar(
    request: Request,
    item_id: ItemId,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    next: Annotated[str | None, Query(json_schema_extra=declared(CURSOR, nullable=False))] = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    index = index_of(request)
    item = index.item(item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    params = {"similar": item_id, "k": k}
    offset = cursor_offset(next, params)
    return page(index.similar(item.path, k=k, offset=offset), params, started)
