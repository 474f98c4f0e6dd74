"""The OpenAPI document says what the server does, checked by a client not written here.

Schemathesis reads `/openapi.json`, generates requests for every operation (valid
ones, and ones that break the schema on purpose) and checks each answer: no
server error, every status and media type documented, the body as documented,
schema-valid requests accepted, invalid ones refused, `Allow` true. It runs
in-process against the ASGI application (no socket), on the fake-encoder index.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.errors import FailureGroup

from searchengine import Index
from searchengine.server.app import create_app
from searchengine.server.search import DEFAULT_UPLOAD_BYTES, MAX_K
from searchengine.server.security import Guard

HOST = "127.0.0.1:8000"  # a Host the guard lets in; nothing listens there
BASE = f"http://{HOST}"
MAX_EXAMPLES = 25  # per operation and phase: the suite's run stays in seconds


@pytest.fixture
def app(index: Index) -> Guard:
    return create_app(index)


# The document is the same whatever the index holds, so it is read once, at collection,
# from an application over no index; each test's requests go to its own application.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(None),  # type: ignore[arg-type]
    headers={"Host": HOST},
)


def refused_for_data(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    """A refusal of a schema-valid request that no schema can avoid: the values are
    well formed, but what they say is not so. A cursor only this server makes, an
    `after` not earlier than `before`, an upload whose bytes are no picture."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    if response.status_code == 400:
        return body.get("parameter") == "next" or "is not earlier than" in body.get("error", "")
    if case.operation.path == "/api/search/image":
        return response.status_code == 415 or body.get("type") == "ExtractionError"
    return False


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests each run: a failure here is never a fluke
)
def test_the_server_does_what_its_openapi_document_says(
    case: schemathesis.Case, app: Guard
) -> None:
    response = case.call(base_url=BASE, app=app)
    try:
        case.validate_response(response, transport_kwargs={"base_url": BASE, "app": app})
    except FailureGroup as group:
        # ST202, "schema-valid request rejected", is wrong only where the data could be right
        if any(f.code != "ST202" or not refused_for_data(case, response) for f in group.exceptions):
            raise


@pytest.fixture
def client(app: Guard):  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as c:
        yield c


def test_empty_parameters_mean_not_given(client: TestClient) -> None:
    empty = "q=car&format=&kind=&folder=&glob=&after=&before=&next="
    res = client.get(f"/api/search?{empty}")
    assert res.status_code == 200, res.text
    assert res.json()["hits"] == client.get("/api/search", params={"q": "car"}).json()["hits"]
    posted = {
        "q": "car",
        "format": [""],
        "kind": [""],
        "folder": [""],
        "glob": [""],
        "after": "",
        "next": "",
    }
    assert client.post("/api/search", json=posted).status_code == 200


def test_every_error_has_the_one_body_and_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "503"} <= statuses, (method, path)
            for status, answer in operation["responses"].items():
                if status != "200":
                    assert answer["content"]["application/json"]["schema"] == body_ref
    invalid = client.get("/api/search", params={"q": "car", "k": MAX_K + 1})
    assert invalid.status_code == 422
    assert invalid.json()["parameter"] == "k" and invalid.json()["detail"]
    unknown = client.get("/api/nothing-here")
    assert unknown.status_code == 404 and unknown.json() == {"error": "Not Found"}


def test_files_and_thumbnails_declare_their_media_types(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    thumbs = spec["paths"]["/api/thumbs/{item_id}"]["get"]["responses"]["200"]["content"]
    assert list(thumbs) == ["image/jpeg"]
    files = spec["paths"]["/api/files/{item_id}"]["get"]["responses"]["200"]["content"]
    assert {"application/pdf", "image/png", "text/plain", "application/octet-stream"} <= set(files)
    assert "application/json" not in files


def test_the_limits_are_in_the_document(index: Index) -> None:
    limit = DEFAULT_UPLOAD_BYTES // 4
    with TestClient(create_app(index, max_upload=limit), base_url=BASE) as c:
        spec = c.get("/openapi.json").json()
    upload = spec["paths"]["/api/search/image"]["post"]["requestBody"]["content"]
    ref = upload["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][ref]["properties"]["image"]["maxLength"] == limit
    k = next(p for p in spec["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "k")
    assert k["schema"]["maximum"] == MAX_K


def test_item_ids_past_the_catalogs_range_are_refused(client: TestClient) -> None:
    for url in ("/api/items/{}", "/api/items/{}/similar", "/api/files/{}", "/api/thumbs/{}"):
        assert client.get(url.format(2**64)).status_code == 422
        assert client.get(url.format(0)).status_code == 422


def test_options_and_other_methods_name_every_method_of_the_path(client: TestClient) -> None:
    options = client.options("/api/search")
    assert options.status_code == 204 and options.headers["allow"] == "GET, OPTIONS, POST"
    put = client.put("/api/search")
    assert put.status_code == 405 and put.headers["allow"] == "GET, OPTIONS, POST"
    assert client.options("/api/items/1").headers["allow"] == "GET, OPTIONS"
    assert client.delete("/api/items/1/open-folder").headers["allow"] == "OPTIONS, POST"


def test_dates_at_the_calendars_ends_and_ages_past_its_range(client: TestClient) -> None:
    for after in ("0001-01-01", "9999-12-31T23:59:59+14:00", "99999d"):
        assert client.get("/api/search", params={"q": "car", "after": after}).status_code == 200
    too_old = client.get("/api/search", params={"q": "car", "after": "99999999999d"})
    assert too_old.status_code == 400 and too_old.json()["parameter"] == "after"
