"""The share gateway: ``/s/<token>`` and its objects, over the container alone.

Two ways to run it (``docs/sharing.md``, "Running the gateway"):

* inside ``printmanager serve`` (its ``register_routes`` hook), over the
  library's share container;
* standalone, beside the bucket, needing only the container's config::

      PRINTMANAGER_SHARE_GATEWAY_CONFIG=gateway.json uvicorn --factory printmanager_share.gateway:from_environment

For each request it reads the link's control record (``shares/tokens/<sha256>.json``),
checks expiry, revocation and the open limit, appends an encrypted access-log
entry, and answers 404 (unknown) / 410 (expired, revoked, used up) / the bytes
(a short-lived presigned GET for S3, a stream for a folder).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from . import container as names
from .container import ShareContainer, open_container

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CONFIG_ENV = "PRINTMANAGER_SHARE_GATEWAY_CONFIG"
#: after a counted open, a link with an open limit serves its files this long
OPEN_WINDOW = _dt.timedelta(hours=1)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-content-type-options": "nosniff"}
_PLACEHOLDER = (b"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Shared files</title>"
                b"<meta name=\"referrer\" content=\"no-referrer\"><body><h1>Shared files</h1>"
                b"<p>This page opens an encrypted share. Its viewer is not installed on this gateway; "
                b"use <code>printmanager share open LINK</code>.</p></body></html>")
_PAGE_CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; "
             "img-src 'self' blob: data:; connect-src 'self' https: http:; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'")
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def page_csp(body: bytes) -> str:
    """The page's Content-Security-Policy: its own scripts, plus the hashes of its inline ones (the import map)."""
    import base64
    import hashlib

    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
                     for m in _INLINE_SCRIPT.finditer(body) if m.group(1).strip())
    return _PAGE_CSP.format(hashes=hashes)


def utc_now() -> _dt.datetime:
    """The gateway's default clock."""
    return _dt.datetime.now(_dt.timezone.utc)


def _iso(value: _dt.datetime) -> str:
    return value.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


def _parse(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    value = _dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


@attrs.frozen
class Decision:
    """What the gateway answers a link: a status, a state word and (when allowed) the share."""

    status: int
    state: str
    share_id: str | None = None
    record: dict[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        """The request may have what it asked for."""
        return self.status == 200


def coarse_client(user_agent: str, ip: str | None, log_ip: bool) -> str:
    """What the access log keeps of a client: browser family and OS, and the IP only if the sharer asked."""
    ua = user_agent or ""
    browser = next((name for pattern, name in (
        (r"printmanager", "printmanager"), (r"Edg/", "Edge"), (r"Firefox/", "Firefox"), (r"Chrome/|Chromium/", "Chrome"),
        (r"Safari/", "Safari"), (r"curl/", "curl"), (r"python-httpx|python-requests", "python"),
    ) if re.search(pattern, ua)), "other")
    system = next((name for pattern, name in (
        (r"Android", "Android"), (r"iPhone|iPad", "iOS"), (r"Windows", "Windows"), (r"Mac OS X|Macintosh", "macOS"),
        (r"Linux", "Linux"),
    ) if re.search(pattern, ua)), "")
    text = f"{browser}/{system}" if system else browser
    return f"{text} {ip}" if log_ip and ip else text


class Gateway:
    """The link checks and answers over one container.

    :param box: the ``shares/`` part of the container, or a callable giving it per request.
    :param clock: what time it is (tests inject one).
    :param proxy: stream S3 objects through the gateway instead of redirecting to a presigned GET.
    """

    def __init__(self, box: ShareContainer | Callable[[], ShareContainer], *,
                 clock: Callable[[], _dt.datetime] = utc_now, proxy: bool = False):
        self._box = box
        self.clock = clock
        self.proxy = proxy

    @property
    def box(self) -> ShareContainer:
        """The container (built on first use when given a callable)."""
        if callable(self._box) and not isinstance(self._box, ShareContainer):
            self._box = self._box()
        return self._box

    # -- the decision ------------------------------------------------------------------

    def decide(self, token: str, action: str) -> Decision:
        """Check a token for ``action`` (``page``, ``status``, ``manifest``, ``file``, ``thumbnail``);
        a ``manifest`` that is allowed counts one open."""
        if not _TOKEN.match(token):
            return Decision(404, "unknown")
        ref = names.token_ref(token)
        got = self.box.read_token(ref)
        if got is None:
            return Decision(404, "unknown")
        record, _tag = got
        share_id = record.get("share")
        if record.get("revoked_at") or not share_id:
            return Decision(410, "revoked", share_id, record)
        now = self.clock()
        expires = _parse(record.get("expires_at"))
        if expires is not None and now >= expires:
            return Decision(410, "expired", share_id, record)
        limit = record.get("max_opens")
        if limit is None:
            return Decision(200, "ok", share_id, record)
        opens = int(record.get("opens") or 0)
        last = _parse(record.get("last_open_at"))
        in_window = last is not None and now - last < OPEN_WINDOW
        if action == "manifest":
            counted: dict[str, Any] = {}

            def count(current: dict[str, Any]) -> dict[str, Any] | None:
                if current.get("revoked_at") or int(current.get("opens") or 0) >= int(current.get("max_opens") or 0):
                    counted["refused"] = True
                    return None
                counted.pop("refused", None)
                return {**current, "opens": int(current.get("opens") or 0) + 1, "last_open_at": _iso(now)}

            after = self.box.update_token(ref, count)
            if after is None or counted.get("refused"):
                return Decision(410, "exhausted", share_id, after or record)
            return Decision(200, "ok", share_id, after)
        if action in ("file", "thumbnail"):
            return Decision(200, "ok", share_id, record) if opens > 0 and in_window else \
                Decision(410, "exhausted", share_id, record)
        return Decision(200, "ok", share_id, record) if opens < int(limit) or in_window else \
            Decision(410, "exhausted", share_id, record)

    def log(self, decision: Decision, token: str, action: str, request: Request) -> None:
        """Append an access-log entry (encrypted to the sharer's log key); never fails the request."""
        record = decision.record or {}
        share_id, recipient = decision.share_id, record.get("log_recipient")
        if not share_id or not recipient:
            return
        logged = {"page": "view", "manifest": "open", "file": "download"}.get(action)
        if logged is None and decision.allowed:
            return
        at = _iso(self.clock())
        client = coarse_client(request.headers.get("user-agent", ""),
                               request.client.host if request.client else None, bool(record.get("log_ip")))
        entry = {"ref": names.token_ref(token), "at": at, "action": logged if decision.allowed else "denied",
                 "allowed": decision.allowed, "client": client, "status": decision.status,
                 "detail": action if decision.allowed else f"{action}: {decision.state}"}
        try:
            self.box.append_log(share_id, entry, str(recipient), at)
        except Exception as exc:  # the recipient still gets the answer; the sharer's log misses one line
            log.warning("share access log entry not written: %s", exc)

    # -- answers -----------------------------------------------------------------------

    def _refused(self, decision: Decision) -> JSONResponse:
        messages = {"unknown": "no such share link", "expired": "this share link has expired",
                    "revoked": "this share link was revoked", "exhausted": "this share link has been used up"}
        return JSONResponse({"error": messages.get(decision.state, decision.state), "state": decision.state},
                            status_code=decision.status, headers=_HEADERS)

    def page(self, request: Request) -> Response:
        """``GET /s/<token>``: the recipient's page (status 200, 404 or 410)."""
        token = request.path_params["token"]
        decision = self.decide(token, "page")
        self.log(decision, token, "page", request)
        page = STATIC / "share.html"
        body = page.read_bytes() if page.is_file() else _PLACEHOLDER
        return Response(body, status_code=decision.status, media_type="text/html; charset=utf-8",
                        headers={**_HEADERS, "content-security-policy": page_csp(body)})

    def status(self, request: Request) -> JSONResponse:
        """``GET /s/<token>/status``: the link's state as JSON."""
        decision = self.decide(request.path_params["token"], "status")
        record = decision.record or {}
        limit = record.get("max_opens")
        left = None if limit is None else max(0, int(limit) - int(record.get("opens") or 0))
        return JSONResponse({"state": decision.state, "expires_at": record.get("expires_at"), "opens_left": left,
                             "password": bool(record.get("password"))}, status_code=decision.status, headers=_HEADERS)

    def _object(self, request: Request, action: str, name_of: Callable[[str], str]) -> Response:
        token = request.path_params["token"]
        decision = self.decide(token, action)
        self.log(decision, token, action, request)
        if not decision.allowed:
            return self._refused(decision)
        assert decision.share_id is not None
        name = name_of(decision.share_id)
        size = self.box.size(name)
        if size is None:
            state = "expired" if action == "manifest" else "unknown"
            return self._refused(Decision(410 if action == "manifest" else 404, state))
        url = None if self.proxy else self.box.presigned_url(name)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers=_HEADERS)
        return StreamingResponse(self.box.stream(name), media_type="application/octet-stream",
                                 headers={**_HEADERS, "content-length": str(size)})

    def manifest(self, request: Request) -> Response:
        """``GET /s/<token>/manifest``: ``manifest.age`` (counts one open)."""
        return self._object(request, "manifest", names.manifest_name)

    def file(self, request: Request) -> Response:
        """``GET /s/<token>/f/<n>``: file ``n``'s ``.age`` object."""
        n = int(request.path_params["n"])
        return self._object(request, "file", lambda sid: names.file_name(sid, n))

    def thumbnail(self, request: Request) -> Response:
        """``GET /s/<token>/t/<n>``: thumbnail ``n``'s ``.age`` object."""
        n = int(request.path_params["n"])
        return self._object(request, "thumbnail", lambda sid: names.thumbnail_name(sid, n))

    def routes(self) -> list[BaseRoute]:
        """The gateway's routes (static files first: ``static`` is never a token)."""
        STATIC.mkdir(exist_ok=True)
        return [
            Mount("/s/static", StaticFiles(directory=STATIC), name="share-static"),
            Route("/s/{token}", self.page, methods=["GET"]),
            Route("/s/{token}/status", self.status, methods=["GET"]),
            Route("/s/{token}/manifest", self.manifest, methods=["GET"]),
            Route("/s/{token}/f/{n:int}", self.file, methods=["GET"]),
            Route("/s/{token}/t/{n:int}", self.thumbnail, methods=["GET"]),
        ]


def create_gateway_app(config: dict[str, Any], *, clock: Callable[[], _dt.datetime] = utc_now,
                       library: "Library | None" = None) -> Starlette:
    """The standalone gateway over the container ``config`` (``{"backend": "s3", "endpoint", "bucket", ...}``
    or ``{"backend": "folder", "path": ...}``; ``"proxy": true`` streams S3 objects instead of redirecting).
    S3 credentials come from the standard AWS environment variables — or, with ``"credentials": NAME``,
    short-lived ones from that storage credential source (``account``: the signed-in account of
    ``library``, or of the library at the config's ``"library"`` path), refreshed before they expire;
    presigned URLs then carry the session token (``X-Amz-Security-Token``)."""

    def box() -> ShareContainer:
        lib = library
        if lib is None and config.get("library"):
            from printmanager_core.library import Library

            lib = Library(Path(str(config["library"])).expanduser())
        return open_container(config, lib)

    gateway = Gateway(box, clock=clock, proxy=bool(config.get("proxy")))

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/healthz", health), *gateway.routes()])


def from_environment() -> Starlette:
    """The standalone gateway configured by the JSON file named in ``PRINTMANAGER_SHARE_GATEWAY_CONFIG``."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise SystemExit(f"set {CONFIG_ENV} to the gateway's JSON config file")
    return create_gateway_app(json.loads(Path(path).read_text(encoding="utf-8")))


def serve_routes() -> list[BaseRoute]:
    """The routes ``printmanager serve`` adds (``register_routes``): the served library's container."""

    def box_of(request: Request) -> Gateway:
        state = request.app.state
        gateway = getattr(state, "share_gateway", None)
        if gateway is None:
            from .api import container_config

            library = state.web.library
            gateway = Gateway(lambda: open_container(container_config(library), library))
            state.share_gateway = gateway
        return gateway

    def bind(method: str) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            return getattr(box_of(request), method)(request)

        endpoint.__name__ = f"share_{method}"
        return endpoint

    STATIC.mkdir(exist_ok=True)
    return [
        Mount("/s/static", StaticFiles(directory=STATIC), name="share-static"),
        Route("/s/{token}", bind("page"), methods=["GET"]),
        Route("/s/{token}/status", bind("status"), methods=["GET"]),
        Route("/s/{token}/manifest", bind("manifest"), methods=["GET"]),
        Route("/s/{token}/f/{n:int}", bind("file"), methods=["GET"]),
        Route("/s/{token}/t/{n:int}", bind("thumbnail"), methods=["GET"]),
    ]
