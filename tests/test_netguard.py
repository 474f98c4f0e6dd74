"""The suite's loopback guard (tests/netguard.py) sees what it is there to see: a
process of the session listening on all interfaces, or reaching out past loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import netguard

LISTEN_ALL = "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen(); "


def _log() -> Path:
    return Path(os.environ[netguard.ENV_LOG])


def test_a_subprocess_listening_on_all_interfaces_is_found() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", LISTEN_ALL + "print(1, flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"
        found = [f for f in netguard.scan(_log()) if f.pid == child.pid]
    finally:
        child.kill()
        child.wait()
    assert found and found[0].listening and found[0].local.startswith("0.0.0.0:"), found


def test_listening_on_loopback_is_not_reported() -> None:
    code = LISTEN_ALL.replace("0.0.0.0", "127.0.0.1") + "print(1, flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"
        assert not [f for f in netguard.scan(_log()) if f.pid == child.pid]
    finally:
        child.kill()
        child.wait()


def test_a_connect_past_loopback_is_refused_and_logged(tmp_path: Path) -> None:
    log = tmp_path / "guard.log"
    env = {**os.environ, netguard.ENV_LOG: str(log)}
    code = (
        "import socket\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n    u.connect(('192.0.2.1', 9))\nexcept PermissionError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "keeps to loopback" in out.stdout, out
    (line,) = netguard.hook_lines(log)
    assert "192.0.2.1" in line


def test_the_watcher_fails_on_what_it_saw_and_spares_a_known_probe(tmp_path: Path) -> None:
    log = tmp_path / "guard.log"
    log.write_text(
        "1\tsocket.connect\t('169.254.169.254', 80)\tdashboard.py\n"
        "2\tsocket.connect\t('192.0.2.1', 443)\tsomething\n",
        encoding="utf-8",
    )
    watcher = netguard.Watcher(log)
    found = watcher.take()
    assert len(found) == 1 and "192.0.2.1" in found[0]
    assert watcher.take() == []  # each line is reported once
