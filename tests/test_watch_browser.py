"""The page under `serve --watch`: a file added to the watched folder appears in the
page's results without reloading the server (or the page), and the page shows the
index's state and the watcher's. Real chromium, real inotify, the fake encoders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_browser import CHROMIUM, LiveServer, browser, free_port, page  # noqa: F401

from searchengine import Encoders, Index, Settings
from searchengine.server.app import create_app

if not Path(CHROMIUM).exists():
    pytestmark = pytest.mark.skip(reason="no chromium: `make test` installs it (apt-get)")


@pytest.fixture
def watched(fake_settings: Settings, encoders: Encoders, tmp_path: Path) -> Iterator[tuple]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text("tomatoes and basil in the garden")
    settings = replace(fake_settings, word_vectors=False)
    with Index.open(settings=settings, encoders=encoders) as index:
        watcher = index.watcher([docs], settle_s=0.3)
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        assert watcher.started.wait(60)
        with LiveServer(create_app(index, watcher=watcher), free_port()) as server:
            yield server, docs
        watcher.stop()
        thread.join(30)


def test_a_file_added_under_serve_watch_appears_in_the_results(page, watched) -> None:  # noqa: F811
    server, docs = watched
    page.goto(server.url + "/")
    page.wait_for_selector("#state-watch:not([hidden])")
    assert "1 files" in page.text_content("#state-summary")
    assert str(docs) in page.text_content("#state-watch")
    page.fill("#q", "axolotl")
    page.press("#q", "Enter")
    page.wait_for_function("document.getElementById('notice').textContent.includes('ms')")
    assert page.locator(".hit", has_text="axolotl.md").count() == 0
    (docs / "axolotl.md").write_text("# axolotl\nthe axolotl lives in the lake")
    # the page polls the state and runs the search again once the index changed
    page.wait_for_selector(".hit:has-text('axolotl.md')", timeout=15000)
    page.wait_for_function(
        "document.getElementById('state-summary').textContent.startsWith('2 files')"
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not a real one")
    page.wait_for_selector("#state-skipped:not([hidden])", timeout=15000)
    page.click("#state-skipped summary")
    assert "broken.pdf" in page.text_content("#state-skipped ul")
