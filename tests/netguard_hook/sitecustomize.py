"""Loaded by every Python process the test suite starts (tests/netguard.py puts this
folder on PYTHONPATH). It refuses each connect or send to an address outside the
loopback range, and each name lookup that would ask a DNS server (an OSError, as a
firewall would answer), and records it in the file named by $SEMSEARCH_NETGUARD_LOG.
Listening sockets, and native servers' sockets, are found by tests/netguard.py's
scan of /proc."""

import ipaddress
import os
import sys

_LOG = os.environ.get("SEMSEARCH_NETGUARD_LOG")


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # a Unix socket, or nothing to check
    host = str(address[0])
    return host.startswith("127.") or host in ("::1", "localhost", "::ffff:127.0.0.1")


def _local_names() -> set[str]:
    names = {"localhost", "ip6-localhost", "ip6-loopback"}
    try:
        with open("/etc/hosts", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split("#", 1)[0].split()
                if fields and (fields[0].startswith("127.") or fields[0] == "::1"):
                    names.update(fields[1:])
    except OSError:
        pass
    return names


_NAMES = _local_names()


def _local_name(host: object) -> bool:
    """A number, or a name this machine answers without asking a DNS server."""
    if not isinstance(host, (str, bytes)):
        return True
    name = host.decode() if isinstance(host, bytes) else host
    if not name or name in _NAMES:
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True  # an address: a connect to it is checked on its own


def _hook(event: str, args: tuple) -> None:
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        if _local_name(args[0]):
            return
        address: object = (args[0], args[1] if event == "socket.getaddrinfo" else None)
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1]
        if _loopback(address):
            return
    else:
        return
    try:
        with open(_LOG, "a", encoding="utf-8") as fh:  # type: ignore[arg-type]
            fh.write(f"{os.getpid()}\t{event}\t{address!r}\t{' '.join(sys.argv)[:200]}\n")
    except OSError:
        pass
    raise PermissionError(f"the test suite keeps to loopback: {event} {address!r} refused")


if _LOG:
    sys.addaudithook(_hook)
