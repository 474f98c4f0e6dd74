"""The page in a real browser: Debian's chromium, headless, through Playwright.

The server runs in this process (uvicorn in a thread) over an index built by
the real pipeline with the fake encoders. Never `playwright install`: the
browser is /usr/bin/chromium (the Makefile installs it with apt-get).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import draw_image, make_corpus

from searchengine import Encoders, Index, Settings
from searchengine.server.app import create_app, fastapi_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # every host name fails without a lookup: the pages are on 127.0.0.1, and Chromium
    # once asked the machine's DNS server something in the background mid-test anyway
    # (ci15: a UDP socket to port 53 during test_upload_an_image, caught by netguard)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--dns-prefetch-disable",
    "--no-pings",
]
XSS_NAME = "<img src=x onerror=alert(1)>.txt"

# CI sets SEMSEARCH_BROWSER_REQUIRED=1, so a missing browser fails there instead of skipping
if not Path(CHROMIUM).exists() and not os.environ.get("SEMSEARCH_BROWSER_REQUIRED"):
    pytestmark = pytest.mark.skip(reason="no chromium: `make test` installs it (apt-get)")


class LiveServer:
    def __init__(self, app, port: int):  # type: ignore[no-untyped-def]
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        fastapi_app(self.server.config.app).state.map_worker.join(300)  # a t-SNE in flight


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(index: Index) -> LiveServer:
    return LiveServer(create_app(index), free_port())


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    # bypass_csp: Playwright's waits evaluate strings, which the page's CSP forbids; it also
    # shows that nothing from the data runs even without the CSP's help
    context = browser.new_context(viewport={"width": 1200, "height": 860}, bypass_csp=True)
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"the page threw: {errors}"


@pytest.fixture
def live(fake_settings: Settings, encoders: Encoders, tmp_path: Path) -> Iterator[LiveServer]:
    root = make_corpus(tmp_path / "docs")
    (root / XSS_NAME).write_text(
        "car <script>alert(2)</script> <b>bold</b> the car engine", encoding="utf-8"
    )
    (root / "odd-one-out.txt").write_text("quarterly invoice " * 6, encoding="utf-8")
    for n in range(6):
        (root / f"car{n}.txt").write_text(
            "car engine road drive price " * (n + 1), encoding="utf-8"
        )
    draw_image(root / "red2.png", (200, 30, 30))
    with Index.open(settings=fake_settings, encoders=encoders) as index:
        index.add(root)
        with serve(index) as server:
            yield server


def picture_names(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The pictures found, in rank order: a grid's cards when the page holds pictures
    only, else the list's hits with a thumbnail."""
    return page.locator(".card .card-name, .hit:has(img.thumb) .title").all_text_contents()


def search(page, server: LiveServer, query: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/")
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_selector(".hit")


def test_search_shows_hits_with_snippets_and_keeps_state_in_the_url(page, live) -> None:
    search(page, live, "승용차 구입")
    first = page.locator(".hit").first
    assert first.locator(".title").text_content() == "korean.txt"
    assert "자동차" in first.locator(".snippet").text_content()
    assert first.locator(".snippet mark").count() >= 1  # 구입 is highlighted
    assert "q=" in page.url
    page.goto(page.url)  # a bookmark runs the same search
    page.wait_for_selector(".hit")
    assert page.locator(".hit .title").first.text_content() == "korean.txt"


def test_more_like_this_and_paging(page, live) -> None:
    search(page, live, "red")
    red = page.locator(".hit", has_text="red.png").first
    # the notice still says the first search's time: cleared, its next "ms" is this one's
    page.evaluate("document.querySelector('#notice').textContent = ''")
    red.locator(".more-like-this").click()
    page.wait_for_function("document.querySelector('#notice').textContent.includes('ms')")
    titles = page.locator(".hit .title, .card .card-name").all_text_contents()
    assert titles[0] == "red2.png" and "red.png" not in titles
    assert "similar=" in page.url
    search(page, live, "the car")
    before = page.locator(".hit").count()
    assert before == 10 and page.locator("#more").is_visible()
    page.click("#more")
    page.wait_for_function(f"document.querySelectorAll('.hit').length > {before}")
    titles = page.locator(".hit .title").all_text_contents()
    assert len(titles) == len(set(titles))  # no hit twice


def test_upload_an_image(page, live, tmp_path: Path) -> None:
    query = draw_image(tmp_path / "query.png", (210, 25, 25))
    page.goto(live.url + "/")
    page.set_input_files("#pick", str(query))
    page.wait_for_selector(".hit, .card")
    assert set(picture_names(page)[:2]) == {"red.png", "red2.png"}  # documents may come between
    page.wait_for_function(  # the thumbnail arrives and decodes
        "() => { const i = document.querySelector('img.thumb, img.big-thumb');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )


def test_pictures_alone_are_a_grid_walked_with_the_arrow_keys(page, live) -> None:  # type: ignore[no-untyped-def]
    page.goto(live.url + "/?q=red&space=image")
    page.wait_for_selector("#hits.grid .card")
    cards = page.locator("#hits .card")
    assert cards.count() == 3 and page.locator("#hits .hit").count() == 0  # red, red2, blue
    first = cards.first
    tip = first.get_attribute("title") or ""
    assert tip.startswith("1. ") and "score" in tip and "image ranking" in tip, tip
    assert "size=256" in (first.locator("img.big-thumb").get_attribute("src") or "")
    first.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.id") == cards.nth(1).get_attribute(
        "data-id"
    )
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.dataset.id") == first.get_attribute("data-id")
    page.keyboard.press("Enter")
    page.wait_for_selector("#item:not([hidden])")
    # a search that finds documents is a list again
    search(page, live, "car engine")
    assert page.locator("#hits.grid").count() == 0 and page.locator("#hits .hit").count() > 0


def test_map_draws_every_item_and_a_click_opens_it(page, live) -> None:
    page.goto(live.url + "/?view=map")
    page.wait_for_function("window.semsearchMap.count() > 0")
    count = page.evaluate("window.semsearchMap.count()")
    assert count == 15 and page.get_attribute("#map-canvas", "data-points") == "15"
    ids = page.evaluate("window.semsearchMap.ids()")
    x, y = page.evaluate("window.semsearchMap.clientPoint(0)")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_selector("#item:not([hidden])")
    assert page.get_attribute("#item", "data-id") == str(ids[0])
    page.select_option("#map-colour", "folder")  # the sub/ folder gets its own colour
    page.wait_for_function(
        "() => !document.querySelector('#map-info').textContent.includes('blue')"
    )
    assert page.evaluate("window.semsearchMap.count()") == 15


def test_the_planted_outlier_is_listed_first(page, live) -> None:
    page.goto(live.url + "/?view=outliers")
    page.wait_for_selector("ol.outliers[data-space=text] li")
    first = page.locator("ol.outliers[data-space=text] li .name").first
    assert first.text_content() == "odd-one-out.txt"


def test_hostile_names_and_text_are_shown_as_text(page, live) -> None:
    search(page, live, "car engine")
    hostile = page.locator(".hit", has_text="onerror")
    assert hostile.count() == 1
    assert hostile.locator(".title").text_content() == XSS_NAME
    assert "<script>alert(2)</script>" in hostile.locator(".snippet").text_content()
    assert page.locator("img[src=x], .hit script, .hit b").count() == 0
    hostile.locator(".title").click()
    page.wait_for_selector("#item:not([hidden])")
    assert "<script>" in page.text_content("#item-preview")
    time.sleep(0.3)
    assert page.dialogs == []  # no alert ran


def test_screenshot(page, live, tmp_path: Path) -> None:
    """The page renders to a picture (the README's is taken with the real models)."""
    search(page, live, "the car")
    target = tmp_path / "page.png"
    page.screenshot(path=str(target), full_page=False)
    assert target.stat().st_size > 10_000


def test_api_docs_render_with_no_network(page, live) -> None:
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(r.url.split("/")[2]))
    page.goto(live.url + "/docs")
    page.wait_for_selector(".opblock")
    assert "/api/search/image" in page.text_content(".swagger-ui")
    assert set(hosts) == {live.url.split("/")[2]}  # nothing from a CDN


def test_the_map_stays_fluid_at_100k_points(page, live) -> None:
    """A 100k-item layout (served by a stub route) draws and answers the mouse quickly."""
    import json

    import numpy as np

    n = 100_000
    rng = np.random.default_rng(0)
    xy = rng.random((n, 2))
    layout = {
        "method": "tsne",
        "generation": "stub",
        "count": n,
        "ids": list(range(1, n + 1)),
        "x": np.round(xy[:, 0] * 2.15, 4).tolist(),
        "y": np.round(xy[:, 1], 4).tolist(),
        "kinds": ["text", "image"] * (n // 2),
        "paths": [f"/data/item{i}.txt" for i in range(n)],
        "thumbs": [False, True] * (n // 2),
        "pending": False,
        "error": None,
    }
    body = json.dumps(layout)
    page.route(
        "**/api/map", lambda route: route.fulfill(body=body, content_type="application/json")
    )
    page.goto(live.url + "/?view=map")
    page.wait_for_function("() => window.semsearchMap.count() === 100000", timeout=20_000)
    took = page.evaluate(
        """() => {
            const t0 = performance.now();
            const [x, y] = window.semsearchMap.clientPoint(123);
            const canvas = document.getElementById('map-canvas');
            for (let i = 0; i < 10; i++) {
                canvas.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y}));
            }
            return (performance.now() - t0) / 10;
        }"""
    )
    assert took < 100, f"a hover took {took:.0f} ms at 100k points"
    assert page.text_content("#map-tip").endswith(".txt")


def test_open_folder_hands_the_path_to_the_file_manager(
    page, live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "opened.txt"
    opener = tmp_path / "opener.py"
    opener.write_text(f"import sys, pathlib; pathlib.Path({str(record)!r}).write_text(sys.argv[1])")
    monkeypatch.setenv("SEMSEARCH_OPENER", f"{sys.executable} {opener}")
    search(page, live, "승용차 구입")
    first = page.locator(".hit").first
    first.locator(".open-folder").click()
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('opened')")
    deadline = time.monotonic() + 10
    while not (record.exists() and record.read_text()):
        assert time.monotonic() < deadline, "the opener never ran"
        time.sleep(0.05)
    assert Path(record.read_text()).name == "korean.txt"
    first.locator(".title").click()
    page.wait_for_selector("#item:not([hidden])")
    assert page.locator("#item-folder").is_visible()


def test_no_open_folder_button_where_the_server_cannot(page, live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SEMSEARCH_OPENER", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    search(page, live, "승용차 구입")
    assert page.locator(".hit .copy").count() > 0 and page.locator(".open-folder").count() == 0


def test_related_words_show_under_the_search_box(  # type: ignore[no-untyped-def]
    page, fake_settings: Settings, encoders: Encoders, tmp_path: Path
) -> None:
    from dataclasses import replace

    from test_vocab import CAR_TERMS, write_topic_docs

    settings = replace(fake_settings, word_vectors_min_tokens=1000)
    with Index.open(settings=settings, encoders=encoders) as index:
        index.add(write_topic_docs(tmp_path / "topics"))
        with serve(index) as server:
            search(page, server, "engine")
            page.wait_for_selector("#related .word")
            words = page.locator("#related .word").all_text_contents()
            assert len(words) == 8 and set(words) <= set(CAR_TERMS) - {"engin"}
            page.locator("#related .word").first.click()
            page.wait_for_function(f"document.querySelector('#q').value === {words[0]!r}")
            assert f"q={words[0]}" in page.url
            search(page, server, "zeppelin")  # a word the collection never uses: nothing shown
            assert page.locator("#related").is_hidden()


def test_an_opened_hit_shapes_the_empty_box_recommendations(page, live) -> None:
    page.goto(live.url + "/")
    page.wait_for_function("document.querySelector('#state-summary').textContent !== ''")
    assert page.locator("#for-you").is_hidden()  # nothing opened yet: nothing to suggest
    search(page, live, "engine road drive")
    first = page.locator(".hit").first
    opened = first.locator(".title").text_content()
    assert opened.startswith("car")
    with page.expect_popup() as popup:
        first.locator("a.open").click()
    popup.value.close()
    index = fastapi_app(live.server.config.app).state.index
    deadline = time.monotonic() + 10
    while not index.events() and time.monotonic() < deadline:
        time.sleep(0.05)
    [event] = index.events()
    assert (event.user, event.action, event.query, event.rank) == (
        "local",
        "open",
        "engine road drive",
        1,
    )
    page.fill("#q", "")  # the emptied box shows what was learned
    page.wait_for_selector("#for-you:not([hidden]) .suggestion")
    suggested = page.locator("#for-you .suggestion .title").all_text_contents()
    assert opened not in suggested  # just opened: not suggested again
    assert suggested[0].startswith("car") and suggested[0] != opened, suggested
    assert "from what you opened" in page.locator("#for-you-basis").text_content()
    assert page.locator("#hits .hit").count() == 0
