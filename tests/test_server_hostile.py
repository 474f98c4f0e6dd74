"""Hostile requests get a 4xx, and the server keeps serving after each."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from searchengine import Index
from searchengine.server.app import create_app

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def client(index: Index):
    with TestClient(create_app(index, max_upload=2 * 1024 * 1024), base_url=BASE) as c:
        yield c


def still_serving(client: TestClient) -> None:
    res = client.get("/api/search", params={"q": "red", "space": "image", "k": 1})
    assert res.status_code == 200 and res.json()["hits"][0]["path"].endswith("red.png")


@pytest.mark.parametrize(
    "url",
    [
        "/api/files/..%2F..%2Fetc%2Fpasswd",
        "/api/files/%2Fetc%2Fpasswd",
        "/api/files/../../etc/passwd",
        "/api/thumbs/..%2Fcatalog.sqlite",
        "/api/items/%2Fetc%2Fpasswd",
        "/api/items/-1/similar",
        "/static/..%2F..%2F..%2Fcatalog%2Fdb.py",
        "/static/../app.py",
        "/static/%2Fetc%2Fpasswd",
    ],
)
def test_paths_in_urls_never_reach_the_disk(client: TestClient, url: str) -> None:
    res = client.get(url)
    assert 400 <= res.status_code < 500, (url, res.status_code)
    assert b"root:" not in res.content and b"import" not in res.content
    still_serving(client)


@pytest.mark.parametrize("folder", ["../", "../../etc", "relative/folder", "/tmp/../etc"])
def test_relative_and_dotdot_folders_are_refused(client: TestClient, folder: str) -> None:
    res = client.get("/api/search", params={"q": "car", "folder": folder})
    assert res.status_code == 400 and res.json()["parameter"] == "folder"
    still_serving(client)


def test_paths_as_queries_are_only_text(client: TestClient) -> None:
    for q in ("../../etc/passwd", "/etc/passwd"):
        res = client.get("/api/search", params={"q": q, "glob": "/etc/*"})
        assert res.status_code == 200 and res.json()["hits"] == []


@pytest.mark.parametrize("host", ["evil.example", "attacker.com:8000", "127.0.0.1.evil.com"])
def test_a_foreign_host_is_refused(client: TestClient, host: str) -> None:
    res = client.get("/api/status", headers={"Host": host})
    assert res.status_code == 400 and "Host" in res.json()["error"]
    assert client.get("/api/status", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/api/status", headers={"Host": "[::1]:8000"}).status_code == 200


def test_a_cross_site_post_is_refused(client: TestClient) -> None:
    body = {"q": "car"}
    foreign = client.post("/api/search", json=body, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    fetch_meta = client.post("/api/search", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_meta.status_code == 403
    same = client.post(
        "/api/search",
        json=body,
        headers={"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 200
    still_serving(client)


def upload(client: TestClient, data: bytes, name: str = "q.png"):  # type: ignore[no-untyped-def]
    return client.post("/api/search/image", files={"image": (name, data, "image/png")})


def test_a_50_mb_upload_is_413(client: TestClient) -> None:
    res = upload(client, b"\x89PNG\r\n\x1a\n" + b"\0" * (50 * 1024 * 1024))
    assert res.status_code == 413
    still_serving(client)


def test_a_streamed_body_past_the_limit_is_413(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(8):
            yield b"x" * (1024 * 1024)

    res = client.post("/api/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert res.status_code == 413
    still_serving(client)


def test_a_non_image_upload_is_415(client: TestClient) -> None:
    res = upload(client, b"<script>alert(1)</script>", "evil.png")
    assert res.status_code == 415
    res = upload(client, b"%PDF-1.4\n" + b"0" * 100, "doc.pdf")
    assert res.status_code == 415
    still_serving(client)


def test_a_truncated_image_is_422(client: TestClient) -> None:
    res = upload(client, b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    assert res.status_code == 422
    still_serving(client)


def test_a_decompression_bomb_is_refused(client: TestClient) -> None:
    buf = io.BytesIO()
    Image.new("1", (16_000, 16_000)).save(buf, "PNG")  # 256 Mpx, a few kB on the wire
    assert len(buf.getvalue()) < 2 * 1024 * 1024
    res = upload(client, buf.getvalue())
    assert res.status_code == 422 and "too large" in res.json()["error"]
    still_serving(client)


def test_token_is_required_when_set(index: Index) -> None:
    app = create_app(index, token="s3cret", bind="0.0.0.0")
    with TestClient(app, base_url="http://192.168.1.5:8000") as c:
        assert c.get("/api/status").status_code == 401
        assert c.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/api/status", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        first = c.get("/", params={"token": "s3cret"})
        assert first.status_code == 200 and "semsearch_token" in first.headers["set-cookie"]
        assert c.get("/api/status").status_code == 200  # the cookie now carries it
