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
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, Field

from searchengine.api import Index
from searchengine.errors import ConfigError
from searchengine.files import FORMATS
from searchengine.filters import Filters, make_filters
from searchengine.records import Kind, Results
from searchengine.server.thumbs import has_thumbnail

MAX_K = 100
DEFAULT_UPLOAD_BYTES = 20 * 1024 * 1024
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


class SearchRequest(BaseModel):
    """A text search; GET takes the same fields as query parameters."""

    q: str = Field(min_length=1, max_length=2000, description="the query, in any language")
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    k: int = Field(10, ge=1, le=MAX_K)
    type: Literal["text", "image"] | None = Field(None, description="keep one kind of hit")
    kind: list[str] = Field(default_factory=list, description="file kinds: pdf, md, jpg, ...")
    folder: list[str] = Field(default_factory=list, description="absolute folders or files")
    glob: list[str] = Field(default_factory=list, description="patterns on the name or path")
    after: str | None = Field(None, description="modified on or after: 2024-05-01 or 30d")
    before: str | None = Field(None, description="modified before")
    sort: Literal["relevance", "date"] = Field(
        "relevance", description="relevance, or date: the good matches, newest first"
    )
    next: str | None = Field(None, description="the cursor of the previous page")


def index_of(request: Request) -> Index:
    index: Index = request.app.state.index
    return index


def filters_of(
    kind: list[str], folder: list[str], glob: list[str], after: str | None, before: str | None
) -> Filters:
    for value in folder:
        # a folder filter only narrows results, never reads a file; still, a relative
        # path would be read against the server's working folder, which no client knows
        if not os.path.isabs(value) or ".." in Path(value).parts or "\x00" in value:
            raise ConfigError(f"folder {value!r}: give an absolute path", parameter="folder")
    return make_filters(under=folder, globs=glob, kinds=kind, after=after, before=before)


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
    if digest != _digest(params) or not 0 <= offset <= 10_000:
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


def run_search(index: Index, req: SearchRequest) -> dict[str, Any]:
    started = time.perf_counter()
    params = req.model_dump(exclude={"next"})
    offset = cursor_offset(req.next, params)
    kinds: set[Kind] | None = {req.type} if req.type else None
    results = index.search(
        req.q,
        k=req.k,
        mode=req.mode,
        kinds=kinds,
        filters=filters_of(req.kind, req.folder, req.glob, req.after, req.before),
        offset=offset,
        sort=req.sort,
    )
    return page(results, params, started)


@router.get("/search", summary="Search documents and images by meaning and words")
def search_get(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid",
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    type: Literal["text", "image"] | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    folder: Annotated[list[str] | None, Query()] = None,
    glob: Annotated[list[str] | None, Query()] = None,
    after: str | None = None,
    before: str | None = None,
    sort: Literal["relevance", "date"] = "relevance",
    next: str | None = None,
) -> dict[str, Any]:
    req = SearchRequest(
        q=q,
        mode=mode,
        k=k,
        type=type,
        kind=kind or [],
        folder=folder or [],
        glob=glob or [],
        after=after,
        before=before,
        sort=sort,
        next=next,
    )
    return run_search(index_of(request), req)


@router.post("/search", summary="Search, with the parameters as a JSON body")
def search_post(request: Request, req: SearchRequest) -> dict[str, Any]:
    return run_search(index_of(request), req)


def sniff_image(head: bytes) -> str | None:
    """The image format an upload starts like (a name of files.FORMATS), else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((name for magic, name in IMAGE_MAGIC if head.startswith(magic)), None)


@router.post("/search/image", summary="Images that look like an uploaded picture")
def search_image(
    request: Request,
    image: Annotated[UploadFile, File(description="a PNG, JPEG, GIF, WebP, BMP or TIFF")],
    k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
    kind: Annotated[list[str] | None, Form()] = None,
    folder: Annotated[list[str] | None, Form()] = None,
    glob: Annotated[list[str] | None, Form()] = None,
    after: Annotated[str | None, Form()] = None,
    before: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    filters = filters_of(kind or [], folder or [], glob or [], after, before)
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
        "filters": [kind, folder, glob, after, before],  # as given: "30d" moves with time
    }
    offset = cursor_offset(next, params)
    with tempfile.TemporaryDirectory(prefix="semsearch-upload-") as tmp:
        path = Path(tmp) / ("query" + FORMATS[sniffed][0])
        path.write_bytes(data)
        results = index_of(request).search(image=path, k=k, offset=offset, filters=filters)
    shown = page(results, params, started)
    shown["query"] = image.filename or "uploaded image"  # not the temporary path
    return shown


@router.get("/items/{item_id}/similar", summary="More like this item")
def similar(
    request: Request,
    item_id: int,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    next: str | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    index = index_of(request)
    item = index.item(item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    params = {"similar": item_id, "k": k}
    offset = cursor_offset(next, params)
    return page(index.similar(item.path, k=k, offset=offset), params, started)
