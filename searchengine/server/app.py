"""The FastAPI application over one `Index`: routes, the error table, the page.

Routes translate, never decide: every answer comes from one `Index` call. The
library's errors become HTTP statuses through `responses.HTTP_STATUS`, with the
library's own message; every error answer has one body (`responses.ErrorBody`),
and every route declares the statuses it can answer in the OpenAPI document.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from searchengine import __version__
from searchengine.api import Index, Watcher
from searchengine.config import LOCAL_USER
from searchengine.errors import ConfigError, SearchEngineError
from searchengine.explore.layout import Method as MapMethod
from searchengine.explore.outliers import OutlierMethod
from searchengine.files import FORMATS, format_of
from searchengine.filters import FILTER_NAMES
from searchengine.records import MODES, SORTS, SPACES
from searchengine.server import learn as learn_routes
from searchengine.server import search as search_routes
from searchengine.server.responses import (
    ALL_EXTENSIONS,
    HTTP_STATUS,
    binary,
    errors,
    file_media_types,
    http_status,
    library_meaning,
)
from searchengine.server.reveal import can_reveal, reveal
from searchengine.server.search import ItemId, index_of
from searchengine.server.security import LOOPBACK_HOSTS, Guard, is_loopback
from searchengine.server.thumbs import THUMB_SIZES, has_thumbnail, thumb_size, thumbnail
from searchengine.vocab.store import Method as WordMethod

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))  # swagger-ui-bundle.js, .css

__all__ = ["HTTP_STATUS", "create_app", "fastapi_app", "http_status"]

# A served file must never run as this page: a sandboxed, unsniffed, separate origin.
FILE_HEADERS = {
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    ),
    "X-Content-Type-Options": "nosniff",
}
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class MapWorker:
    """Computes the t-SNE map in a background thread, one at a time, and caches it."""

    def __init__(self, index: Index):
        self.index = index
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.busy:
                return
            self._thread = threading.Thread(target=self._run, name="semsearch-map", daemon=True)
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.index.map("tsne")
            self.error = None
        except Exception as exc:  # the page keeps its PCA map; the reason is shown
            log.warning("the t-SNE map failed: %s", exc)
            self.error = str(exc)


api = APIRouter(prefix="/api")


def vocabulary() -> dict[str, Any]:
    """The words the server takes, from the tuples the CLI's choices come from too."""
    return {
        "version": __version__,
        "modes": list(MODES),
        "sorts": list(SORTS),
        "spaces": list(SPACES),
        "formats": {name: [e.lstrip(".") for e in exts] for name, exts in FORMATS.items()},
        "filters": list(FILTER_NAMES),
        "max_k": search_routes.MAX_K,
    }


@api.get(
    "/meta",
    summary="The server's version and the words it takes: modes, sorts, spaces, formats",
    description="`formats` maps each format to its extensions; `filters` names the "
    "filter parameters of a search. The page builds its choices from this.",
    responses=errors(),
)
def meta() -> dict[str, Any]:
    return vocabulary()


@api.get("/status", summary="What the index holds, with which models, how big", responses=errors())
def status(request: Request) -> dict[str, Any]:
    out = index_of(request).status().to_json()
    out["can_open_folder"] = can_reveal(request.app.state.loopback)
    out["version"] = __version__
    watcher: Watcher | None = request.app.state.watcher
    out["watch"] = watcher.state.to_json() if watcher is not None else None
    return out


@api.get(
    "/items/{item_id}",
    summary="One indexed file, by catalog id",
    responses=errors(404, 422, e404="no item by that id"),
)
def item(request: Request, item_id: ItemId) -> dict[str, Any]:
    found = index_of(request).item(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    out = found.to_json()
    out["name"] = Path(found.path).name
    out["thumb_url"] = f"/api/thumbs/{found.id}" if has_thumbnail(found.kind, found.path) else None
    out["file_url"] = f"/api/files/{found.id}"
    return out


@api.post(
    "/items/{item_id}/open-folder",
    summary="Show the file in the desktop's file manager",
    responses=errors(
        403,
        404,
        413,
        422,
        e403="a cross-site request, or a server that cannot open folders (not on this desktop)",
        e404="no item by that id, or its folder is no longer on disk",
        e503="no index or the index is busy, or no file manager could be started",
    ),
)
def open_folder(request: Request, item_id: ItemId) -> dict[str, Any]:
    if not can_reveal(request.app.state.loopback):
        raise HTTPException(403, "this server cannot open folders (not on this desktop)")
    found = index_of(request).item(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    path = Path(found.on_disk)  # a mail's attachment: the mail
    if not path.parent.is_dir():
        raise HTTPException(404, f"the folder of item {item_id} is no longer on disk")
    try:
        reveal(path)
    except OSError as exc:
        raise HTTPException(503, f"cannot open the folder: {exc}") from None
    return {"opened": str(path.parent)}


@api.get(
    "/thumbs/{item_id}",
    summary="A JPEG thumbnail of an image or a PDF's first page",
    response_class=FileResponse,
    responses={
        **binary("The thumbnail, a JPEG", ["image/jpeg"]),
        **errors(
            404,
            422,
            e404="no image or PDF by that id, or its file is no longer on disk",
            e422="a parameter out of range, or the file is no readable image or PDF",
        ),
    },
)
def thumb(
    request: Request,
    item_id: ItemId,
    size: Annotated[
        int | None,
        Query(
            ge=16, le=2048, description=f"pixels; the nearest of {', '.join(map(str, THUMB_SIZES))}"
        ),
    ] = None,
) -> FileResponse:
    index = index_of(request)
    found = index.item(item_id)
    if found is None or found.within is not None or not has_thumbnail(found.kind, found.path):
        raise HTTPException(404, f"no image or PDF {item_id}")
    try:
        path = thumbnail(
            index.path,
            found.id,
            Path(found.path),
            thumb_size(size),
            index.settings.max_image_pixels,
        )
    except FileNotFoundError:
        raise HTTPException(404, f"item {item_id} is no longer on disk") from None
    return FileResponse(
        path,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=300", **FILE_HEADERS},
    )


@api.get(
    "/files/{item_id}",
    summary="The original file, by catalog id only",
    response_class=FileResponse,
    responses={
        **binary(
            "The file as it is on disk, with the media type its name says",
            file_media_types(ALL_EXTENSIONS),
        ),
        **errors(404, 422, e404="no item by that id, or its file is no longer on disk"),
    },
)
def original(request: Request, item_id: ItemId) -> FileResponse:
    found = index_of(request).item(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    path = Path(found.on_disk)  # a mail's attachment: the mail that holds it
    if not path.is_file():
        raise HTTPException(404, f"item {item_id} is no longer on disk")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/"):
        media += "; charset=utf-8" if format_of(path.name) in ("txt", "md") else ""
    disposition = f"inline; filename*=UTF-8''{quote(path.name)}"
    return FileResponse(
        path,
        media_type=media,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-cache", **FILE_HEADERS},
    )


@api.get(
    "/map",
    summary="Every item on a plane: PCA at once, t-SNE when computed",
    responses=errors(422),
)
def collection_map(
    request: Request, method: Literal["auto"] | MapMethod = "auto"
) -> dict[str, Any]:
    index = index_of(request)
    worker: MapWorker = request.app.state.map_worker
    if method == "auto":
        layout = index.map("tsne", cached_only=True)
        if layout.method != "tsne" and len(layout) and not worker.busy:
            worker.start()
    else:
        layout = index.map(method)
    out = layout.to_json()
    out["thumbs"] = [has_thumbnail(k, p) for k, p in zip(layout.kinds, layout.paths, strict=True)]
    out["pending"] = layout.method != "tsne" and worker.busy
    out["error"] = worker.error
    return out


@api.get(
    "/related",
    summary="The collection's own words nearest to a word (its word vectors)",
    responses=errors(404, 422, e404=library_meaning(404)),
)
def related(
    request: Request,
    word: Annotated[str, Query(min_length=1, max_length=200)],
    k: Annotated[int, Query(ge=1, le=50)] = 8,
    method: WordMethod = "word2vec",
) -> dict[str, Any]:
    return index_of(request).related(word, k=k, method=method).to_json()


@api.get(
    "/outliers",
    summary="The items least like the rest, per space (kNN distance or an autoencoder's "
    "reconstruction error); near-duplicates",
    responses=errors(422),
)
def outliers(
    request: Request,
    k: Annotated[int, Query(ge=1, le=50)] = 5,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    method: OutlierMethod = "knn",
) -> dict[str, Any]:
    return index_of(request).outliers(k=k, limit=limit, method=method).to_json()


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (and OPTIONS), for `Allow`."""
    found = {
        method
        for method in METHODS
        for route in request.app.router.routes
        if not isinstance(route, Mount)  # static files: their own GET and HEAD
        and route.matches({**request.scope, "method": method})[0] == Match.FULL
    }
    return sorted(found | {"OPTIONS"}) if found else []


def declare_upload_limit(document: dict[str, Any], limit: int) -> None:
    """Put the upload limit (bytes) on every file field of a form in the document."""
    for form in document.get("components", {}).get("schemas", {}).values():
        for field in form.get("properties", {}).values():
            if field.get("format") == "binary" or "contentMediaType" in field:
                field["maxLength"] = limit
                field["description"] = (
                    f"{field.get('description', 'a file')}, at most {limit} bytes"
                )


def create_app(
    index: Index,
    *,
    token: str | None = None,
    bind: str = "127.0.0.1",
    max_upload: int = search_routes.DEFAULT_UPLOAD_BYTES,
    watcher: Watcher | None = None,
    users: dict[str, str] | None = None,
) -> Guard:
    """The ASGI application serving `index`; the Guard in front of FastAPI. `watcher`,
    if given, keeps the index level with its folders (the caller runs it): `/api/status`
    says what it does. `users` (token -> user name) lets each token in as its user."""
    app = FastAPI(
        title="semsearch",
        summary="Search your documents and images by meaning, in Korean and English.",
        description=(
            "Every error answers with one JSON body (`ErrorBody`), and each operation lists "
            "the statuses it can answer. An empty query parameter is the same as none. "
            "`OPTIONS` on a path answers 204 with `Allow`; a method a path does not take, "
            "405 with the same `Allow`."
        ),
        version=__version__,
        docs_url=None,  # FastAPI's own /docs loads Swagger UI from a CDN; this one is local
        redoc_url=None,
    )
    app.state.index = index
    app.state.max_upload = max_upload
    app.state.loopback = is_loopback(bind)
    app.state.map_worker = MapWorker(index)
    app.state.watcher = watcher
    app.include_router(search_routes.router)
    app.include_router(learn_routes.router)
    app.include_router(api)
    document = app.openapi

    def openapi() -> dict[str, Any]:  # the document, with this server's upload limit in it
        if app.openapi_schema is None:
            declare_upload_limit(document(), max_upload)
        return app.openapi_schema or document()

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(SearchEngineError)
    async def library_error(request: Request, exc: SearchEngineError) -> JSONResponse:
        body: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
        if isinstance(exc, ConfigError) and exc.parameter:
            body["parameter"] = exc.parameter
        return JSONResponse(body, status_code=http_status(exc))

    @app.exception_handler(StarletteHTTPException)  # a route's, and the router's 404 and 405
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            if request.method == "OPTIONS" and allowed:
                return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
            headers["Allow"] = ", ".join(allowed) or headers.get("Allow", "")
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = jsonable_encoder(exc.errors())
        first = problems[0] if problems else {}
        where = [str(part) for part in first.get("loc", ())[1:]]
        body = {
            "error": f"{'.'.join(where) or 'request'}: {first.get('msg', 'invalid')}",
            "parameter": where[0] if where else None,
            "detail": problems,
        }
        return JSONResponse(body, status_code=422)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="semsearch API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_UI), name="docs-assets")
    hosts = LOOPBACK_HOSTS | {bind.lower().strip("[]")}
    if bind in ("0.0.0.0", "::"):
        hosts |= {"*"}  # any name reaches it; the token is what guards it then
    return Guard(
        app,
        hosts=frozenset(hosts),
        token=token,
        max_body=max_upload + 1024 * 1024,
        users=users,
        local_user=LOCAL_USER,
    )


def fastapi_app(asgi: Guard) -> FastAPI:
    """The FastAPI application behind the guard (for its state, in tests)."""
    inner = asgi.app
    assert isinstance(inner, FastAPI)
    return inner
