"""The FastAPI application over one `Index`: routes, the error table, the page.

Routes translate, never decide: every answer comes from one `Index` call. The
library's errors become HTTP statuses through `HTTP_STATUS`, the server's
counterpart of the CLI's exit-code table, with the library's own message.
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
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from searchengine.api import Index
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
from searchengine.files import format_of
from searchengine.server import search as search_routes
from searchengine.server.reveal import can_reveal, reveal
from searchengine.server.security import LOOPBACK_HOSTS, Guard, is_loopback
from searchengine.server.thumbs import has_thumbnail, thumb_size, thumbnail

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))  # swagger-ui-bundle.js, .css

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


def http_status(exc: SearchEngineError) -> int:
    return next(code for cls, code in HTTP_STATUS if isinstance(exc, cls))


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


def _index(request: Request) -> Index:
    index: Index = request.app.state.index
    return index


@api.get("/status", summary="What the index holds, with which models, how big")
def status(request: Request) -> dict[str, Any]:
    out = _index(request).status().to_json()
    out["can_open_folder"] = can_reveal(request.app.state.loopback)
    return out


@api.get("/items/{item_id}", summary="One indexed file, by catalog id")
def item(request: Request, item_id: int) -> dict[str, Any]:
    found = _index(request).item(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    out = found.to_json()
    out["name"] = Path(found.path).name
    out["thumb_url"] = f"/api/thumbs/{found.id}" if has_thumbnail(found.kind, found.path) else None
    out["file_url"] = f"/api/files/{found.id}"
    return out


@api.post("/items/{item_id}/open-folder", summary="Show the file in the desktop's file manager")
def open_folder(request: Request, item_id: int) -> dict[str, Any]:
    if not can_reveal(request.app.state.loopback):
        raise HTTPException(403, "this server cannot open folders (not on this desktop)")
    found = _index(request).item(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    path = Path(found.path)
    if not path.parent.is_dir():
        raise HTTPException(404, f"the folder of item {item_id} is no longer on disk")
    try:
        reveal(path)
    except OSError as exc:
        raise HTTPException(503, f"cannot open the folder: {exc}") from None
    return {"opened": str(path.parent)}


@api.get("/thumbs/{item_id}", summary="A JPEG thumbnail of an image or a PDF's first page")
def thumb(
    request: Request, item_id: int, size: Annotated[int | None, Query(ge=16, le=2048)] = None
) -> FileResponse:
    index = _index(request)
    found = index.item(item_id)
    if found is None or not has_thumbnail(found.kind, found.path):
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


@api.get("/files/{item_id}", summary="The original file, by catalog id only")
def original(request: Request, item_id: int) -> FileResponse:
    found = _index(request).item(item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    path = Path(found.path)
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


@api.get("/map", summary="Every item on a plane: PCA at once, t-SNE when computed")
def collection_map(
    request: Request, method: Literal["auto", "pca", "tsne"] = "auto"
) -> dict[str, Any]:
    index = _index(request)
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


@api.get("/related", summary="The collection's own words nearest to a word (its word vectors)")
def related(
    request: Request,
    word: Annotated[str, Query(min_length=1, max_length=200)],
    k: Annotated[int, Query(ge=1, le=50)] = 8,
    method: Literal["word2vec", "cbow", "glove"] = "word2vec",
) -> dict[str, Any]:
    return _index(request).related(word, k=k, method=method).to_json()


@api.get("/outliers", summary="The items least like the rest, per space; near-duplicates")
def outliers(
    request: Request,
    k: Annotated[int, Query(ge=1, le=50)] = 5,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    return _index(request).outliers(k=k, limit=limit).to_json()


def create_app(
    index: Index,
    *,
    token: str | None = None,
    bind: str = "127.0.0.1",
    max_upload: int = search_routes.DEFAULT_UPLOAD_BYTES,
) -> Guard:
    """The ASGI application serving `index`; the Guard in front of FastAPI."""
    app = FastAPI(
        title="semsearch",
        summary="Search your documents and images by meaning, in Korean and English.",
        version="0.1.0",
        docs_url=None,  # FastAPI's own /docs loads Swagger UI from a CDN; this one is local
        redoc_url=None,
    )
    app.state.index = index
    app.state.max_upload = max_upload
    app.state.loopback = is_loopback(bind)
    app.state.map_worker = MapWorker(index)
    app.include_router(search_routes.router)
    app.include_router(api)

    @app.exception_handler(SearchEngineError)
    async def library_error(request: Request, exc: SearchEngineError) -> JSONResponse:
        body: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
        if isinstance(exc, ConfigError) and exc.parameter:
            body["parameter"] = exc.parameter
        return JSONResponse(body, status_code=http_status(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

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
    return Guard(app, hosts=frozenset(hosts), token=token, max_body=max_upload + 1024 * 1024)


def fastapi_app(asgi: Guard) -> FastAPI:
    """The FastAPI application behind the guard (for its state, in tests)."""
    inner = asgi.app
    assert isinstance(inner, FastAPI)
    return inner
