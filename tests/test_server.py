"""The HTTP API over an index built by the real pipeline (fake encoders for the logic).

Every endpoint, its error statuses, and the paging cursor; hostile requests
are in test_server_hostile.py.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import draw_image, minimal_pdf
from PIL import Image

from searchengine import Encoders, Index, Settings
from searchengine.errors import ConfigError, ExtractionError, LockedError, SearchEngineError
from searchengine.server.app import HTTP_STATUS, create_app, fastapi_app, http_status

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def client(index: Index):
    app = create_app(index)
    with TestClient(app, base_url=BASE) as c:
        yield c
    fastapi_app(app).state.map_worker.join(300)  # a t-SNE in flight


def names(body: dict) -> list[str]:
    return [Path(h["path"]).name for h in body["hits"]]


def test_search_returns_the_cli_shape_plus_ids(client: TestClient, index: Index) -> None:
    res = client.get("/api/search", params={"q": "승용차", "space": "text", "k": 2})
    assert res.status_code == 200, res.text
    body = res.json()
    library = index.search("승용차", k=2, spaces={"text"}).to_json()
    assert names(body) == [Path(h["path"]).name for h in library["hits"]]  # type: ignore[index]
    assert names(body)[0] == "korean.txt"
    hit = body["hits"][0]
    assert {"path", "kind", "score", "snippet", "highlights", "good_match", "id"} <= set(hit)
    assert hit["thumb_url"] is None and hit["file_url"] == f"/api/files/{hit['id']}"
    assert body["took_ms"] >= 0 and body["query"] == "승용차"


def test_post_search_takes_a_json_body(client: TestClient) -> None:
    res = client.post("/api/search", json={"q": "red", "space": "image", "k": 1})
    assert res.status_code == 200, res.text
    assert names(res.json()) == ["red.png"]
    assert res.json()["hits"][0]["thumb_url"].startswith("/api/thumbs/")


def test_paging_with_the_cursor_never_repeats_or_skips(client: TestClient) -> None:
    everything = names(client.get("/api/search", params={"q": "the car", "k": 20}).json())
    seen: list[str] = []
    params: dict = {"q": "the car", "k": 4}
    for _ in range(5):
        body = client.get("/api/search", params=params).json()
        seen += names(body)
        if not body["next"]:
            break
        params["next"] = body["next"]
    assert seen == everything and len(everything) == 6


def test_a_cursor_from_another_query_is_refused(client: TestClient) -> None:
    cursor = client.get("/api/search", params={"q": "the car", "k": 1}).json()["next"]
    res = client.get("/api/search", params={"q": "banana", "k": 1, "next": cursor})
    assert res.status_code == 400 and res.json()["parameter"] == "next"
    assert client.get("/api/search", params={"q": "x", "next": "garbage!"}).status_code == 400


def test_filters(client: TestClient, corpus: Path) -> None:
    under = client.get(
        "/api/search", params={"q": "the car", "k": 20, "folder": str(corpus / "sub")}
    )
    assert sorted(names(under.json())) == ["banana.html", "blue.jpg"]
    md = client.get("/api/search", params={"q": "the car", "k": 20, "format": "md"})
    assert names(md.json()) == ["dog.md"]
    globbed = client.get("/api/search", params=[("q", "car"), ("glob", "*.png"), ("glob", "*.md")])
    assert sorted(names(globbed.json())) == ["dog.md", "red.png"]
    future = client.get("/api/search", params={"q": "car", "after": "2100-01-01"})
    assert future.json()["hits"] == []
    bad = client.get("/api/search", params={"q": "car", "after": "yesterday-ish"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "after"
    assert client.get("/api/search", params={"q": "car", "format": "exe"}).status_code == 422
    assert client.get("/api/search", params={"q": "car", "mode": "psychic"}).status_code == 422
    assert client.get("/api/search", params={"q": "car", "k": 0}).status_code == 422
    assert client.get("/api/search").status_code == 422


def png_bytes(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buf, "PNG")
    return buf.getvalue()


def test_search_by_uploaded_image(client: TestClient) -> None:
    files = {"image": ("query.png", png_bytes((200, 10, 10)), "image/png")}
    res = client.post("/api/search/image", files=files, data={"k": "1"})
    assert res.status_code == 200, res.text
    body = res.json()
    assert names(body) == ["red.png"] and body["mode"] == "image"
    assert body["query"] == "query.png"  # never the server's temporary path
    files = {"image": ("query.png", png_bytes((200, 10, 10)), "image/png")}
    nxt = client.post("/api/search/image", files=files, data={"k": "1", "next": body["next"]})
    assert names(nxt.json()) == ["blue.jpg"]
    files = {"image": ("query.png", png_bytes((200, 10, 10)), "image/png")}
    jpg = client.post("/api/search/image", files=files, data={"format": "jpg"})
    assert names(jpg.json()) == ["blue.jpg"]


def test_items_similar_thumbs_and_files(client: TestClient, corpus: Path) -> None:
    hits = client.get("/api/search", params={"q": "red", "space": "image", "k": 1}).json()["hits"]
    image_id = hits[0]["id"]
    item = client.get(f"/api/items/{image_id}").json()
    assert item["name"] == "red.png" and item["kind"] == "image"
    thumb = client.get(item["thumb_url"], params={"size": 64})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert "max-age" in thumb.headers["cache-control"]
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 64
    original = client.get(f"/api/files/{image_id}")
    assert original.content == (corpus / "red.png").read_bytes()
    assert "sandbox" in original.headers["content-security-policy"]
    similar = client.get(f"/api/items/{image_id}/similar", params={"k": 3}).json()
    assert "red.png" not in names(similar) and names(similar)[0] == "blue.jpg"
    dog = client.get("/api/search", params={"q": "puppy", "space": "text"}).json()["hits"][0]
    text_item = client.get(f"/api/items/{dog['id']}").json()
    assert "walk the puppy" in text_item["preview"] and text_item["thumb_url"] is None
    assert client.get(f"/api/thumbs/{dog['id']}").status_code == 404
    assert client.get("/api/items/999999").status_code == 404
    assert client.get("/api/items/999999/similar").status_code == 404
    assert client.get("/api/files/999999").status_code == 404


def test_thumbnail_is_cached_and_remade_when_the_file_changes(
    client: TestClient, index: Index, corpus: Path
) -> None:
    hit = client.get("/api/search", params={"q": "red", "space": "image", "k": 1}).json()["hits"][0]
    first = client.get(hit["thumb_url"]).content
    cached = list((index.path / "thumbs").iterdir())
    assert len(cached) == 1 and client.get(hit["thumb_url"]).content == first
    time.sleep(0.01)
    draw_image(corpus / "red.png", (20, 200, 20))  # same file, new picture
    second = client.get(hit["thumb_url"]).content
    assert second != first and len(list((index.path / "thumbs").iterdir())) == 1
    (corpus / "red.png").unlink()
    assert client.get(hit["thumb_url"]).status_code == 404
    assert client.get(hit["file_url"]).status_code == 404


def test_status_map_and_outliers(client: TestClient) -> None:
    status = client.get("/api/status").json()
    assert status["counts"] and {s["name"] for s in status["spaces"]} >= {"text", "image"}
    layout = client.get("/api/map", params={"method": "pca"}).json()
    assert layout["count"] == 6 and len(layout["x"]) == len(layout["ids"]) == 6
    assert sorted(layout["kinds"]) == ["image"] * 2 + ["text"] * 4
    auto = client.get("/api/map").json()
    assert auto["count"] == 6
    out = client.get("/api/outliers").json()
    assert set(out["spaces"]) == {"text"}  # two images are too few to stand out from
    assert len(out["spaces"]["text"]) == 4


def test_openapi_and_page(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/search/image", "/api/items/{item_id}", "/api/map"} <= set(
        spec["paths"]
    )
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text  # works offline
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    page = client.get("/")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert client.get("/static/app.js").status_code == 200


def test_errors_map_to_statuses() -> None:
    assert http_status(LockedError(Path("/x"), "pid 1")) == 503
    assert http_status(ConfigError("bad")) == 400
    assert http_status(ExtractionError("not a readable image")) == 422
    assert HTTP_STATUS[-1][0] is SearchEngineError


def test_no_index_is_a_503(fake_settings: Settings, encoders: Encoders) -> None:
    with Index.open(settings=fake_settings, encoders=encoders) as idx:
        with TestClient(create_app(idx), base_url=BASE) as c:
            res = c.get("/api/search", params={"q": "car"})
            assert res.status_code == 503 and "no index" in res.json()["error"]


def test_new_files_from_another_writer_are_found(
    client: TestClient, fake_settings: Settings, encoders: Encoders, corpus: Path
) -> None:
    assert "bananas.txt" not in names(client.get("/api/search", params={"q": "banana"}).json())
    (corpus / "bananas.txt").write_text("banana banana fruit", encoding="utf-8")
    with Index.open(settings=fake_settings, encoders=encoders) as writer:  # as `semsearch index`
        writer.add(corpus)
    body = client.get("/api/search", params={"q": "banana", "space": "text", "k": 1}).json()
    assert names(body) == ["bananas.txt"]


def test_map_worker_caches_tsne(client: TestClient, index: Index) -> None:
    worker = fastapi_app(client.app).state.map_worker  # type: ignore[arg-type]
    worker.start()
    worker.join(60)
    assert worker.error is None


@pytest.mark.subprocess
def test_semsearch_serve_answers(tmp_path: Path) -> None:
    """`semsearch serve` in a subprocess, as a user starts it (no index there yet: 503)."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SEMSEARCH_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchengine", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 503 and "no index" in json.loads(exc.read())["error"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err


def test_searches_go_on_while_another_writer_indexes(
    client: TestClient, fake_settings: Settings, encoders: Encoders, corpus: Path
) -> None:
    import threading

    from fakes import FakeImageEncoder, FakeTextEncoder

    for n in range(150):
        (corpus / "more" / f"note{n}.txt").parent.mkdir(exist_ok=True)
        (corpus / "more" / f"note{n}.txt").write_text(f"the car note number {n}", encoding="utf-8")
    writer_encoders = Encoders(text=FakeTextEncoder(), image=FakeImageEncoder())
    done = threading.Event()

    def write() -> None:
        try:
            with Index.open(settings=fake_settings, encoders=writer_encoders) as writer:
                writer.add(corpus)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    statuses = []
    while not done.is_set() or not statuses:
        statuses.append(client.get("/api/search", params={"q": "the car", "k": 5}).status_code)
    thread.join(60)
    assert set(statuses) == {200}
    assert client.get("/api/status").json()["counts"]["files_text"] == 154
    last = client.get("/api/search", params={"q": "number 149", "mode": "lexical", "k": 1})
    assert names(last.json()) == ["note149.txt"]


def test_search_sorts_by_date(client) -> None:  # type: ignore[no-untyped-def]
    by_date = client.get("/api/search", params={"q": "the car", "k": 20, "sort": "date"})
    assert by_date.status_code == 200 and by_date.json()["hits"]
    assert client.get("/api/search", params={"q": "car", "sort": "size"}).status_code == 422


def test_a_pdf_gets_its_first_page_as_thumbnail(
    client: TestClient, index: Index, corpus: Path
) -> None:
    (corpus / "manual.pdf").write_bytes(minimal_pdf(["the car manual, page one", "page two"]))
    index.add(corpus)
    hit = client.get("/api/search", params={"q": "car manual", "format": "pdf", "k": 1}).json()
    (pdf,) = hit["hits"]
    assert pdf["thumb_url"] == f"/api/thumbs/{pdf['id']}"
    assert client.get(f"/api/items/{pdf['id']}").json()["thumb_url"] == pdf["thumb_url"]
    thumb = client.get(pdf["thumb_url"], params={"size": 128})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(thumb.content))
    assert max(picture.size) == 128  # the page, fitted to the size asked
    layout = client.get("/api/map", params={"method": "pca"}).json()
    shown = dict(zip(layout["paths"], layout["thumbs"], strict=True))
    assert shown[str(corpus / "manual.pdf")] is True and shown[str(corpus / "car.txt")] is False
    (corpus / "manual.pdf").write_bytes(b"%PDF-1.4 broken beyond repair")  # changed, unreadable
    assert client.get(pdf["thumb_url"]).status_code == 422


def test_open_folder_runs_the_opener_with_the_catalog_path(
    client: TestClient, index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "opened.txt"
    opener = tmp_path / "opener.py"
    opener.write_text(
        f"import sys, pathlib; pathlib.Path({str(record)!r}).write_text(sys.argv[1])\n"
    )
    monkeypatch.setenv("SEMSEARCH_OPENER", f"{sys.executable} {opener}")
    assert client.get("/api/status").json()["can_open_folder"] is True
    hit = client.get("/api/search", params={"q": "puppy", "space": "text"}).json()["hits"][0]
    answer = client.post(f"/api/items/{hit['id']}/open-folder")
    assert answer.status_code == 200 and answer.json()["opened"] == str(Path(hit["path"]).parent)
    for _ in range(100):  # the opener runs on its own
        if record.exists() and record.read_text():
            break
        time.sleep(0.05)
    assert record.read_text() == hit["path"]
    assert client.post("/api/items/999999/open-folder").status_code == 404
    assert client.get(f"/api/items/{hit['id']}/open-folder").status_code == 405


def test_open_folder_is_refused_off_this_machine(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_OPENER", "true")
    app = create_app(index, token="s3cret", bind="0.0.0.0")
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(app, base_url="http://192.0.2.7:8000") as c:
        assert c.get("/api/status", headers=auth).json()["can_open_folder"] is False
        hit = c.get("/api/search", params={"q": "puppy", "k": 1}, headers=auth).json()["hits"][0]
        assert c.post(f"/api/items/{hit['id']}/open-folder", headers=auth).status_code == 403


def test_related_words_of_the_collection(
    tmp_path: Path, fake_settings: Settings, encoders: Encoders, client: TestClient
) -> None:
    from dataclasses import replace

    from test_vocab import BAKING_TERMS, CAR_TERMS, write_topic_docs

    # the small fixture corpus has too little text for word vectors: 404, with the reason
    missing = client.get("/api/related", params={"word": "car"})
    assert missing.status_code == 404 and "word vectors" in missing.json()["error"]
    settings = replace(
        fake_settings, index_dir=tmp_path / "topics-index", word_vectors_min_tokens=1000
    )
    with Index.open(settings=settings, encoders=encoders) as index:
        index.add(write_topic_docs(tmp_path / "topics"))
        with TestClient(create_app(index), base_url=BASE) as c:
            body = c.get("/api/related", params={"word": "engine", "k": 5}).json()
            words = [n["word"] for n in body["neighbours"]]
            assert len(words) == 5 and set(words) <= set(CAR_TERMS) - {"engin"}
            assert not set(words) & set(BAKING_TERMS)
            unknown = c.get("/api/related", params={"word": "zeppelin"})
            assert unknown.status_code == 404
            assert (
                c.get("/api/related", params={"word": "car", "method": "bert"}).status_code == 422
            )


def test_the_old_parameter_names_still_work(client: TestClient, index: Index) -> None:
    """`type` and `kind` are the old names of `space` and `format`: same answer, same cursor."""
    old = client.get("/api/search", params={"q": "the car", "type": "text", "kind": "md"}).json()
    new = client.get("/api/search", params={"q": "the car", "space": "text", "format": "md"}).json()
    assert names(old) == names(new) == ["dog.md"] and old["next"] == new["next"]
    assert client.get("/api/search", params={"q": "car", "kind": "text"}).status_code == 200
    with pytest.warns(DeprecationWarning, match="spaces="):
        hits = index.search("red", k=3, kinds={"image"})
    assert names(hits.to_json()) == names(index.search("red", k=3, spaces={"image"}).to_json())


def test_status_and_meta_carry_the_version(client: TestClient) -> None:
    from searchengine import __version__

    assert client.get("/api/status").json()["version"] == __version__
    assert client.get("/api/meta").json()["version"] == __version__


def test_hwp_and_hwpx_documents_show_the_preview_they_carry(
    tmp_path: Path, fake_settings, encoders
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "hangul"
    folder.mkdir()
    data = Path(__file__).parent / "data" / "formats"
    for name in ("sample_document.hwp", "sample_document.hwpx"):
        (folder / name).write_bytes((data / name).read_bytes())
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(folder)
        with TestClient(create_app(index), base_url=BASE) as client:
            hits = client.get("/api/search", params={"q": "무궁화", "mode": "lexical"}).json()
            assert sorted(names(hits)) == ["sample_document.hwp", "sample_document.hwpx"]
            for hit in hits["hits"]:
                item = client.get(f"/api/items/{hit['id']}").json()
                thumb = client.get(item["thumb_url"], params={"size": 128})
                assert thumb.status_code == 200, thumb.text
                assert thumb.headers["content-type"] == "image/jpeg"
                assert max(Image.open(io.BytesIO(thumb.content)).size) <= 128
    from searchengine.server.thumbs import embedded_preview

    bare = tmp_path / "bare.hwpx"
    bare.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # a zip holding nothing
    with pytest.raises(ExtractionError, match="no preview picture"):
        embedded_preview(bare)
