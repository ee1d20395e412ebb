"""A small OpenID Connect provider for tests (the part of Google that GoTrue's OAuth sign-in talks to).

Written from OpenID Connect Core 1.0 (authorization code flow) and RFC 6749: on 127.0.0.1 and
an ephemeral port, ``GET /authorize`` shows a real HTML sign-in and consent page (email,
password, Allow / Deny), ``POST /authorize`` checks the form and redirects to the client's
``redirect_uri`` with ``code`` and ``state`` (or ``error=access_denied``), ``POST /token``
trades the code (once, for the client that asked, with its secret and the same
``redirect_uri``) for an access token and an ES256-signed ``id_token``, and
``/.well-known/openid-configuration`` and ``/jwks`` publish the rest. A browser drives the
page; the relying party (the GoTrue test server) calls ``/token`` server to server.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from typing import Any, Iterator
from urllib.parse import parse_qs, urlencode

import attrs
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "gotrue"
CLIENT_SECRET = "gotrue-client-secret"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Test Identity</title></head>
<body>
<h1>Sign in</h1>
<p id="client">to continue to <b>{client}</b>, which will see your email address and name.</p>
{error}
<form method="post" action="/authorize">
  <input type="hidden" name="client_id" value="{client}">
  <input type="hidden" name="redirect_uri" value="{redirect_uri}">
  <input type="hidden" name="state" value="{state}">
  <input type="hidden" name="scope" value="{scope}">
  <label>Email <input type="email" name="email" autocomplete="username" required></label>
  <label>Password <input type="password" name="password" autocomplete="current-password"></label>
  <button type="submit" name="consent" value="allow">Allow</button>
  <button type="submit" name="consent" value="deny" formnovalidate>Deny</button>
</form>
</body></html>
"""


@attrs.define
class OIDCProvider:
    """The provider's state: its users, the codes it gave out, what was asked."""

    key: ECKey = attrs.Factory(lambda: ECKey.generate_key("P-256", parameters={"kid": "oidc-key-1"}))
    users: dict[str, tuple[str, str]] = attrs.Factory(dict)  # email -> (password, name)
    codes: dict[str, dict[str, str]] = attrs.Factory(dict)
    requests: list[str] = attrs.Factory(list)
    issuer: str = ""

    def add_user(self, email: str, password: str, name: str) -> None:
        self.users[email] = (password, name)

    def verify_id_token(self, id_token: str, audience: str = CLIENT_ID) -> dict[str, Any]:
        """What the relying party does with the ``id_token``: signature, issuer, audience, expiry."""
        keys = KeySet.import_key_set({"keys": [self.key.as_dict(private=False)]})
        claims = jwt.decode(id_token, keys, algorithms=["ES256"]).claims
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer}, aud={"essential": True, "value": audience},
                              exp={"essential": True}).validate(claims)
        return dict(claims)


def _page(fields: dict[str, str], error: str = "") -> HTMLResponse:
    escaped = {k: html.escape(fields.get(k, ""), quote=True) for k in ("redirect_uri", "state", "scope")}
    return HTMLResponse(PAGE.format(client=html.escape(fields.get("client_id", "")), **escaped,
                                    error=f'<p role="alert" id="error">{html.escape(error)}</p>' if error else ""))


def build_app(state: OIDCProvider) -> Starlette:
    async def authorize_page(request: Request) -> Response:
        state.requests.append("authorize")
        q = dict(request.query_params)
        if q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID or not q.get("redirect_uri"):
            return HTMLResponse("<!doctype html><title>Error</title><p>invalid_request", status_code=400)
        return _page(q)

    async def authorize_submit(request: Request) -> Response:
        state.requests.append("authorize:submit")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("client_id") != CLIENT_ID or not form.get("redirect_uri"):
            return HTMLResponse("<!doctype html><title>Error</title><p>invalid_request", status_code=400)
        back = form["redirect_uri"]
        if form.get("consent") != "allow":
            return RedirectResponse(back + "?" + urlencode({
                "error": "access_denied", "error_description": "The user denied access", "state": form.get("state", "")}),
                status_code=303)
        known = state.users.get(form.get("email", ""))
        if known is None or not secrets.compare_digest(known[0], form.get("password", "")):
            return _page(form, "Wrong email or password.")
        code = secrets.token_urlsafe(24)
        state.codes[code] = {"client_id": CLIENT_ID, "redirect_uri": back, "email": form["email"]}
        return RedirectResponse(back + "?" + urlencode({"code": code, "state": form.get("state", "")}), status_code=303)

    async def token(request: Request) -> Response:
        state.requests.append("token")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = state.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        email = grant["email"]
        now = int(time.time())
        claims = {"iss": state.issuer, "aud": CLIENT_ID, "sub": f"oidc-{abs(hash(email))}", "email": email,
                  "email_verified": True, "name": state.users[email][1], "iat": now, "exp": now + 600}
        id_token = jwt.encode({"alg": "ES256", "kid": state.key.kid}, claims, state.key)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 600,
                             "id_token": id_token})

    async def discovery(request: Request) -> Response:
        return JSONResponse({"issuer": state.issuer, "authorization_endpoint": f"{state.issuer}/authorize",
                             "token_endpoint": f"{state.issuer}/token", "jwks_uri": f"{state.issuer}/jwks",
                             "response_types_supported": ["code"], "subject_types_supported": ["public"],
                             "id_token_signing_alg_values_supported": ["ES256"]})

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [state.key.as_dict(private=False, alg="ES256", use="sig")]})

    return Starlette(routes=[
        Route("/authorize", authorize_page, methods=["GET"]),
        Route("/authorize", authorize_submit, methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/jwks", jwks, methods=["GET"]),
    ])


def serve(state: OIDCProvider) -> Iterator[str]:
    """Run the provider on 127.0.0.1:0 in a thread for the duration of the generator; yields its address."""
    config = uvicorn.Config(build_app(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("OIDC test provider did not start")
        time.sleep(0.02)
    state.issuer = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield state.issuer
    finally:
        server.should_exit = True
        thread.join(5)
