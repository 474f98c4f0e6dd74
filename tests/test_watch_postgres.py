"""A watcher over a PostgreSQL catalog rides out a restart of the server: the files
written while it was down are indexed once it is back, none twice, verify clean.

The server is this test's own (the session's is shared with other tests), stopped
and started again on the same data folder and port."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pg_server import PgServer, binaries

from searchengine import Index, Settings
from searchengine.catalog import Catalog

pytestmark = pytest.mark.postgres


def restart(server: PgServer, down_s: float, during) -> None:  # type: ignore[no-untyped-def]
    server.pause()
    during()
    time.sleep(down_s)
    server.resume()


def test_a_watcher_resumes_after_a_postgresql_restart(
    fake_settings: Settings, encoders, tmp_path: Path
) -> None:
    found = binaries()
    if found is None:
        pytest.skip("PostgreSQL is not installed (make postgres)")
    server = PgServer(found).start()
    try:
        url = server.create_database("watched")
        Catalog(url=url).close()
        settings = replace(fake_settings, catalog=url, word_vectors=False)
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "before.txt").write_text("written before the restart")
        with Index.open(settings=settings, encoders=encoders) as index:
            states: list[str] = []
            watcher = index.watcher([docs], settle_s=0.3, on_state=lambda s: states.append(s.state))
            thread = threading.Thread(target=watcher.run, daemon=True)
            thread.start()
            assert watcher.started.wait(60)

            def write_while_down() -> None:
                for n in range(20):
                    (docs / f"down{n}.txt").write_text(f"written while the server was down {n}")

            restart(server, 3.0, write_while_down)
            deadline = time.monotonic() + 60
            while watcher.state.indexed < 21:
                assert time.monotonic() < deadline, watcher.state.to_json()
                time.sleep(0.2)
            watcher.stop()
            thread.join(30)
            assert "retrying" in states  # it tried while the server was down, and failed
            with Index.open(settings=settings, encoders=encoders) as check:
                assert check.status().counts["files"] == 21
                assert check.verify().clean
    finally:
        server.stop()
