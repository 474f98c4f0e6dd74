"""Keeps the test suite's network traffic on this machine's loopback (127.0.0.0/8, ::1).

Two watchers, because the servers the tests start are Python (uvicorn, semsearch,
Ray's Python workers) and native (PostgreSQL, Ray's GCS and raylet):

- an audit hook in every Python process of the session (netguard_hook/sitecustomize.py,
  on PYTHONPATH, so subprocesses and Ray workers load it too) refuses each connect or
  send to an address outside loopback, and logs it;
- `scan()` reads /proc/net for sockets of the session's processes (tagged by
  $SEMSEARCH_NETGUARD_LOG in their environment) that listen on, or talk to, an address
  outside loopback. A background thread scans every second while the suite runs.

conftest.py fails the test during which either watcher found something, except a
refused attempt listed in REFUSED_PROBES: third-party code that we cannot configure
out of asking, and that the hook stopped before any packet left.
"""

from __future__ import annotations

import ast
import importlib.util
import ipaddress
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

HOOK_DIR = Path(__file__).resolve().parent / "netguard_hook"
ENV_LOG = "SEMSEARCH_NETGUARD_LOG"

# (host, port) -> why an attempt there is refused but is no failure
_CLOUD = (
    "Ray asks cloud metadata services which cloud (and TPU) it runs on, even with usage "
    "stats off (ray/_common/usage/usage_lib.py, ray/_private/accelerators/tpu.py)"
)
REFUSED_PROBES = {
    ("169.254.169.254", 80): _CLOUD,
    ("metadata.google.internal", 80): _CLOUD,
}

_TCP_LISTEN = "0A"
_TCP_CLOSE = "07"  # unconnected, or a UDP socket
_TABLES = (
    ("tcp", socket.AF_INET),
    ("tcp6", socket.AF_INET6),
    ("udp", socket.AF_INET),
    ("udp6", socket.AF_INET6),
)


@dataclass(frozen=True)
class Foreign:
    """A socket of a session process on an address outside loopback."""

    pid: int
    command: str
    table: str
    local: str
    remote: str
    listening: bool

    def __str__(self) -> str:
        what = f"listens on {self.local}" if self.listening else f"talks to {self.remote}"
        return f"pid {self.pid} ({self.command}): {self.table} socket {what}"


def install(log: Path) -> None:
    """Tag this process and its future children, and load the hook in each of them."""
    os.environ[ENV_LOG] = str(log)
    path = os.environ.get("PYTHONPATH", "")
    if str(HOOK_DIR) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_DIR), path) if p)
    if "sitecustomize" not in sys.modules or not hasattr(sys.modules["sitecustomize"], "_hook"):
        spec = importlib.util.spec_from_file_location(
            "_netguard_hook", HOOK_DIR / "sitecustomize.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # installs the audit hook in this process


def hook_lines(log: Path) -> list[str]:
    try:
        return log.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def _address(hexaddr: str, family: int) -> tuple[str, int]:
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if family == socket.AF_INET:
        packed = raw[::-1]
    else:  # four little-endian 32-bit words
        packed = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.ip_address(packed)), int(port, 16)


def _outside(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_loopback


def _sockets() -> list[tuple[str, str, str, bool, str]]:
    """(table, local, remote, listening, inode) of each socket outside loopback."""
    found = []
    for table, family in _TABLES:
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            (lhost, lport), (rhost, rport) = (
                _address(fields[1], family),
                _address(fields[2], family),
            )
            state, inode = fields[3], fields[9]
            listening = state == _TCP_LISTEN or (table.startswith("udp") and rport == 0)
            if listening and _outside(lhost):
                found.append((table, f"{lhost}:{lport}", "", True, inode))
            elif not listening and state != _TCP_CLOSE and rport and _outside(rhost):
                found.append((table, f"{lhost}:{lport}", f"{rhost}:{rport}", False, inode))
            elif table.startswith("udp") and rport and _outside(rhost):
                found.append((table, f"{lhost}:{lport}", f"{rhost}:{rport}", False, inode))
    return found


def _owners(inodes: set[str]) -> dict[str, int]:
    owners: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    owners[link[8:-1]] = int(proc.name)
        except OSError:
            continue
    return owners


def _in_session(pid: int, log: str) -> bool:
    if pid == os.getpid():  # /proc shows the environment a process started with
        return True
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{ENV_LOG}={log}".encode() in environ


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"


_NOT_OURS: set[str] = set()  # inodes of sockets owned by processes outside the session


def scan(log: Path) -> list[Foreign]:
    """The session's sockets outside loopback now."""
    sockets = [s for s in _sockets() if s[4] not in _NOT_OURS]
    if not sockets:
        return []
    owners = _owners({s[4] for s in sockets})
    out = []
    for table, local, remote, listening, inode in sockets:
        pid = owners.get(inode)
        if pid is None:
            continue
        if _in_session(pid, str(log)):
            out.append(Foreign(pid, _command(pid), table, local, remote, listening))
        else:
            _NOT_OURS.add(inode)
    return out


class Watcher:
    """Scans every `interval` seconds in a daemon thread; `take()` returns what it saw
    since the last call, and what the audit hooks logged."""

    def __init__(self, log: Path, interval: float = 1.0) -> None:
        self.log = log
        self.interval = interval
        self._seen: set[str] = set()
        self._new: list[str] = []
        self._hook_lines = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netguard", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def check(self) -> None:
        try:
            found = scan(self.log)
        except Exception as exc:  # a vanished process mid-scan; next round sees the rest
            found = []
            if not isinstance(exc, (OSError, ValueError)):
                raise
        with self._lock:
            for f in found:
                key = f"{f.pid}:{f.table}:{f.local}:{f.remote}"
                if key not in self._seen:
                    self._seen.add(key)
                    self._new.append(str(f))

    def take(self) -> list[str]:
        self.check()
        lines = hook_lines(self.log)
        with self._lock:
            new, self._new = self._new, []
            fresh = lines[self._hook_lines :]
            self._hook_lines = len(lines)
        return new + [f"refused by the audit hook: {line}" for line in fresh if not _probe(line)]


def _probe(line: str) -> bool:
    """Whether a hook line is a refused attempt at one of REFUSED_PROBES."""
    try:
        address = ast.literal_eval(line.split("\t")[2])
    except (IndexError, ValueError, SyntaxError):
        return False
    return isinstance(address, tuple) and tuple(address[:2]) in REFUSED_PROBES
