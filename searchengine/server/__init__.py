"""`semsearch serve`: the HTTP API and the web page over one `searchengine.Index`.

`app` builds the FastAPI application (routes translate, never decide);
`security` holds the middleware that keeps it safe on a shared machine;
`thumbs` makes and caches thumbnails; `static/` is the page (no build step).
"""
