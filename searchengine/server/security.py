"""The guard in front of every request: Host, Origin, token and body size.

- The `Host` header must name this machine (127.0.0.1, localhost, ::1, or the
  address the server was told to bind), so a web page on another site cannot
  reach the server through DNS rebinding.
- A request that changes or uploads (anything but GET/HEAD/OPTIONS) must come
  from the page itself: a foreign `Origin`, or `Sec-Fetch-Site: cross-site`,
  is refused (no CSRF).
- With a token, every request must carry it: `Authorization: Bearer T`, the
  cookie the page gets, or `?token=T` once in a link (which sets the cookie).
  Several tokens may each name a user (`users`: token -> name); the request's user
  is then `scope["state"]["user"]` (the local user without tokens, or with one
  unnamed token), whose events are theirs alone.
- A body larger than the limit answers 413, whether it says so in its
  `Content-Length` or only turns out that way while it streams in.

A pure ASGI middleware, so that a large upload is refused before FastAPI reads it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "semsearch_token"


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server to this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past the limit; FastAPI passes HTTPExceptions on."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body over the limit of {limit} bytes")


def host_name(header: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str] = LOOPBACK_HOSTS,
        token: str | None = None,
        max_body: int = 25 * 1024 * 1024,
        users: dict[str, str] | None = None,
        local_user: str = "local",
    ):
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)
        # token -> the user it names; one unnamed token is the local user's
        self.users = dict(users or {})
        if token:
            self.users.setdefault(token, local_user)
        self.local_user = local_user
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal, set_cookie, user = self._check(scope, headers)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        if set_cookie is not None:
            send = _with_cookie(send, set_cookie)
        scope.setdefault("state", {})["user"] = user
        await self._guarded_body(scope, receive, send)

    def _user_of(self, given: str) -> str | None:
        """The user `given` names, comparing it with every token in constant time."""
        found = None
        for token, user in self.users.items():
            if hmac.compare_digest(given.encode(), token.encode()):
                found = user
        return found

    def _check(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[tuple[int, str] | None, str | None, str]:
        """(a refusal, the token to set as a cookie, the user)."""
        host = host_name(headers.get("host", ""))
        if host not in self.hosts and not (self.users and "*" in self.hosts):
            return (400, f"unknown Host {headers.get('host', '')!r}"), None, ""
        set_cookie = None
        user = self.local_user
        if self.users:
            given = _bearer(headers) or _cookie(headers)
            if given is None:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                given = (query.get("token") or [None])[0]
                set_cookie = given
            named = None if given is None else self._user_of(given)
            if named is None:
                return (401, "this server needs its token"), None, ""
            user = named
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if (
                origin is not None
                and urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
            ):
                return (403, "cross-site request refused"), None, ""
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return (403, "cross-site request refused"), None, ""
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            return (400, "bad Content-Length"), None, ""
        if length > self.max_body:
            return (413, f"request body over the limit of {self.max_body} bytes"), None, ""
        return None, set_cookie, user

    async def _guarded_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _reply(send, 413, str(exc.detail))


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


def _cookie(headers: dict[str, str]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is no token
        return None
    morsel = jar.get(TOKEN_COOKIE)
    return morsel.value if morsel else None


def _with_cookie(send: Send, token: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
        await send(message)

    return sending


async def _reply(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
