"""OAuth sign-in through the system browser and a loopback redirect (RFC 8252), with PKCE S256.

A one-shot HTTP listener on ``127.0.0.1`` and an ephemeral port receives the redirect
that carries the authorisation code; the code verifier never leaves this process
except in the final ``grant_type=pkce`` request (RFC 7636).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
import webbrowser
from typing import Callable
from urllib.parse import parse_qs, urlparse

from .errors import SignInFailed
from .supabase import SupabaseProvider, Tokens

TIMEOUT = 300.0
DONE_PAGE = (b"<!doctype html><meta charset=utf-8><title>printmanager</title>"
             b"<p>Signed in. You can close this window and go back to printmanager.</p>")
REFUSED_PAGE = (b"<!doctype html><meta charset=utf-8><title>printmanager</title>"
                b"<p>Not signed in: the sign-in was refused or cancelled. You can close this window; "
                b"printmanager says why.</p>")


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` for S256 (RFC 7636 section 4)."""
    verifier = secrets.token_urlsafe(64)[:128]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Catcher(http.server.BaseHTTPRequestHandler):
    result: dict[str, str]
    got: threading.Event

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        if url.path != "/callback":
            self.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.result.update(query)  # type: ignore[attr-defined]
        page = DONE_PAGE if "code" in query else REFUSED_PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
        self.server.got.set()  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        return


def sign_in_with_browser(provider: SupabaseProvider, oauth_provider: str = "google", *,
                         open_browser: Callable[[str], object] = webbrowser.open,
                         timeout: float = TIMEOUT) -> Tokens:
    """Open the browser at the provider's ``/authorize``, wait for the loopback redirect, trade the code."""
    verifier, challenge = pkce_pair()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Catcher)
    server.result = {}  # type: ignore[attr-defined]
    server.got = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        redirect = f"http://127.0.0.1:{server.server_address[1]}/callback"
        open_browser(provider.authorize_url(oauth_provider, redirect, challenge))
        if not server.got.wait(timeout):  # type: ignore[attr-defined]
            raise SignInFailed(f"no answer from the browser sign-in within {timeout:.0f} s")
        result: dict[str, str] = server.result  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
    if "code" not in result:
        reason = result.get("error_description") or result.get("error") or "no code in the redirect"
        raise SignInFailed(f"browser sign-in refused: {reason}")
    return provider.exchange_code(result["code"], verifier)
