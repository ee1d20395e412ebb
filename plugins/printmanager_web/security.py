"""What keeps the web app safe: loopback by default, a token beyond it, CSRF, read-only, roots.

- :func:`is_loopback` decides whether an address needs a token.
- :func:`access_token` keeps the token in the vault (``web.token``), made on first use.
- :class:`Guard` checks every request: the token (when there is one), the ``Host``
  header on loopback (no DNS rebinding), and, on every write (any method but
  GET/HEAD/OPTIONS), read-only mode, the ``Origin`` and the CSRF token.
- :func:`served_path` is the only way a catalogued file's path reaches a response:
  its real path must lie inside one of the library's roots.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import urlsplit

from printmanager_core.paths import is_within

from .errors import OutsideRoots, TokenRequired

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord

#: the vault secret holding the access token for non-loopback addresses
TOKEN_SECRET = "web.token"
#: the cookie a browser keeps the token in after opening ``/?token=...``
TOKEN_COOKIE = "pm_token"
#: the header (or, for forms, field) carrying the CSRF token on writes
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the largest request body a write may send (edits are small JSON objects)
MAX_BODY = 1024 * 1024
LOOPBACK_NAMES = ("localhost",)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable only from this machine."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def new_token() -> str:
    """A fresh access token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def access_token(library: "Library", *, renew: bool = False) -> tuple[str, bool]:
    """The access token kept in the library's vault as ``web.token``; made (and stored) if absent.

    :param renew: make a new one even if one is stored (the old one stops working).
    :returns: ``(token, created)``; ``created`` is True when the token is new (show it once).
    :raises TokenRequired: the vault plugin is not installed (or is blocked), so no token can be kept.
    """
    from printmanager_core.plugins import get_plugin_manager

    try:
        import printmanager_vault
    except ImportError:
        printmanager_vault = None
    if printmanager_vault is None or not get_plugin_manager().is_registered(printmanager_vault):
        raise TokenRequired(
            "serving beyond this machine needs an access token kept in the vault; "
            "install 'printmanager[vault]' or serve on 127.0.0.1"
        ) from None
    if not renew:
        stored = printmanager_vault.get_secret(library, TOKEN_SECRET)
        if stored:
            return stored, False
    token = new_token()
    printmanager_vault.set_secret(library, TOKEN_SECRET, token)
    return token, True


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback ``host`` without a token.

    :raises TokenRequired: ``host`` is not loopback and ``token`` is empty.
    """
    if not is_loopback(host) and not token:
        raise TokenRequired(f"binding {host} (not loopback) needs an access token; refusing to serve it open")


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def served_path(library: "Library", file: "FileRecord") -> Path:
    """The real path on disk behind ``file`` (its archive for a member), if it lies inside a root.

    Symbolic links are resolved first, so a catalogued name that now points
    elsewhere is refused.

    :raises OutsideRoots: the real path is outside every root of the library.
    """
    on_disk = file.archive_path or file.path
    real = os.path.realpath(on_disk)
    for root in library.roots():
        if is_within(real, os.path.realpath(root)):
            return Path(real)
    raise OutsideRoots(f"file {file.id} lies outside the library's roots; not served")


class Guard:
    """ASGI middleware: token, Host, and (on writes) read-only, Origin and CSRF.

    :param app: the ASGI app to guard.
    :param token: the access token, or None on loopback (no token asked).
    :param csrf_token: the token every write must carry in ``X-CSRF-Token``.
    :param read_only: refuse every write with 403.
    :param allowed_hosts: the ``Host`` names accepted (None: any, when a token guards).
    """

    def __init__(
        self,
        app: Any,
        *,
        token: str | None,
        csrf_token: str,
        read_only: bool,
        allowed_hosts: tuple[str, ...] | None,
    ):
        self.app = app
        #: the guarded app's state (``state.web`` is the :class:`~printmanager_web.app.WebState`)
        self.state = getattr(app, "state", None)
        self.token = token
        self.csrf_token = csrf_token
        self.read_only = read_only
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            await _refuse(send, 400, f"host {host!r} is not served here")
            return
        if self.token is not None:
            query_token = _query_value(scope, "token")
            presented = _bearer(headers) or _cookie(headers, TOKEN_COOKIE) or query_token
            if not same_secret(presented, self.token):
                await _refuse(send, 401, "an access token is required (Authorization: Bearer TOKEN)",
                              extra=[(b"www-authenticate", b'Bearer realm="printmanager"')])
                return
            if query_token and same_secret(query_token, self.token) and scope["method"].upper() == "GET":
                # a link with the token: keep it in a cookie and drop it from the address bar and history
                cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                await _redirect_without_token(scope, send, cookie)
                return
        method = scope["method"].upper()
        if method not in SAFE_METHODS:
            if self.read_only:
                await _refuse(send, 403, "the server is read-only (started with --read-only)")
                return
            origin = headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != host:
                await _refuse(send, 403, "cross-origin write refused")
                return
            if origin == "null" or not same_secret(headers.get(CSRF_HEADER), self.csrf_token):
                await _refuse(send, 403, "missing or wrong CSRF token (X-CSRF-Token)")
                return
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY or "chunked" in headers.get("transfer-encoding", ""):
                await _refuse(send, 413, f"a request body holds at most {MAX_BODY:,} bytes, with a Content-Length")
                return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(message.get("headers", []))
                took = (time.perf_counter() - started) * 1000
                extra.append((b"server-timing", f"app;dur={took:.2f}".encode()))  # the server's own time
                names = {k.lower() for k, _ in extra}
                for name, value in _SECURITY_HEADERS:
                    if name not in names:
                        extra.append((name, value))
                message = {**message, "headers": extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else None


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _query_value(scope: Scope, name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


async def _redirect_without_token(scope: Scope, send: Send, cookie: str) -> None:
    from urllib.parse import parse_qsl, quote, urlencode

    kept = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if k != "token"]
    location = quote(scope.get("path", "/")) + (f"?{urlencode(kept)}" if kept else "")
    headers = [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()),
               (b"content-length", b"0"), (b"cache-control", b"no-store"), *_SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *_SECURITY_HEADERS, *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: Host names a loopback server answers to (anything else may be DNS rebinding)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
