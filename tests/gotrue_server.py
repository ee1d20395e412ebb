"""A contract-faithful Supabase Auth (GoTrue) server for tests, on 127.0.0.1 and an ephemeral port.

Written from the published GoTrue REST API (supabase/auth README): everything under
``/auth/v1``; ``POST /token?grant_type=password|refresh_token|pkce``, ``GET /authorize``
(PKCE S256, redirecting to the external provider), ``GET /user``, ``POST /logout?scope=``,
``GET /.well-known/jwks.json`` and ``DELETE /admin/users/{id}`` (service-role key only), and the
service's account-deletion Edge Function ``POST /functions/v1/delete-account``. Access tokens are real
ES256 JWTs (joserfc). Refresh tokens rotate: each is spent when used, and presenting a
spent one again revokes its whole family (GoTrue's reuse detection), so a leaked
refresh token stops working for everyone.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

import attrs
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ANON_KEY = "test-anon-key"


@attrs.define
class User:
    id: str
    email: str
    password: str
    full_name: str | None = None
    app_metadata: dict[str, Any] = attrs.Factory(dict)


@attrs.define
class RefreshToken:
    token: str
    user_id: str
    session_id: str
    revoked: bool = False


@attrs.define
class GoTrue:
    """The server's state (tests read it: which tokens are revoked, what was asked)."""

    key: ECKey = attrs.Factory(lambda: ECKey.generate_key("P-256", parameters={"kid": "test-key-1"}))
    users: dict[str, User] = attrs.Factory(dict)
    refresh_tokens: dict[str, RefreshToken] = attrs.Factory(dict)
    revoked_sessions: set[str] = attrs.Factory(set)
    requests: list[str] = attrs.Factory(list)
    expires_in: int = 3600
    allow_delete: bool = True
    #: the external OAuth provider's authorize address; None: the server's own stand-in
    #: (``/test-provider/authorize``), which signs in ``google_email`` at once
    provider_authorize: str | None = None
    google_email: str = "grace@example.org"
    #: with ``provider_authorize``: trade the provider's code for the user's email
    external_email: Callable[[str, str], str] | None = None
    #: a project on Supabase's legacy shared-secret signing: HS256 tokens, no public key in the JWKS
    hs256_secret: str | None = None
    flows: dict[str, dict[str, str]] = attrs.Factory(dict)  # state -> redirect_to, challenge
    codes: dict[str, dict[str, str]] = attrs.Factory(dict)  # auth code -> user id, challenge

    def add_user(self, email: str, password: str, full_name: str | None = None, **app_metadata: Any) -> User:
        user = User(str(uuid.uuid4()), email, password, full_name, dict(app_metadata))
        self.users[user.id] = user
        return user

    def _access(self, user: User, session_id: str) -> str:
        now = int(time.time())
        claims = {"sub": user.id, "aud": "authenticated", "role": "authenticated", "email": user.email,
                  "session_id": session_id, "iat": now, "exp": now + self.expires_in,
                  "app_metadata": {"provider": "email", **user.app_metadata},
                  "user_metadata": {"full_name": user.full_name} if user.full_name else {}}
        if self.hs256_secret is not None:
            return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(self.hs256_secret))
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key)

    def _user_json(self, user: User) -> dict[str, Any]:
        return {"id": user.id, "aud": "authenticated", "email": user.email,
                "app_metadata": {"provider": "email", **user.app_metadata},
                "user_metadata": {"full_name": user.full_name} if user.full_name else {}}

    def issue(self, user: User, session_id: str | None = None) -> dict[str, Any]:
        session_id = session_id or str(uuid.uuid4())
        refresh = RefreshToken(secrets.token_urlsafe(16), user.id, session_id)
        self.refresh_tokens[refresh.token] = refresh
        return {"access_token": self._access(user, session_id), "token_type": "bearer",
                "expires_in": self.expires_in, "expires_at": int(time.time()) + self.expires_in,
                "refresh_token": refresh.token, "user": self._user_json(user)}

    def revoke_session(self, session_id: str) -> None:
        self.revoked_sessions.add(session_id)
        for token in self.refresh_tokens.values():
            if token.session_id == session_id:
                token.revoked = True

    @property
    def service_role_key(self) -> str:
        """The project's service-role key: a JWT with ``role: service_role`` signed with the project's key."""
        now = int(time.time())
        claims = {"iss": "supabase", "role": "service_role", "iat": now, "exp": now + 10 * 365 * 86400}
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key)

    def admin_claims(self, request: Request) -> dict[str, Any] | None:
        """The claims of a service-role bearer token, else None (GoTrue's requireAdmin)."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        try:
            claims = jwt.decode(header[7:], self.key, algorithms=["ES256"]).claims
        except Exception:
            return None
        if claims.get("role") not in ("service_role", "supabase_admin") or claims.get("exp", 0) < time.time():
            return None
        return dict(claims)

    def delete_user(self, user_id: str) -> None:
        """Delete the user and end every session of theirs."""
        del self.users[user_id]
        for token in list(self.refresh_tokens.values()):
            if token.user_id == user_id:
                self.revoke_session(token.session_id)

    def bearer_user(self, request: Request) -> tuple[User, dict[str, Any]] | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        try:
            if self.hs256_secret is not None:
                claims = jwt.decode(header[7:], OctKey.import_key(self.hs256_secret), algorithms=["HS256"]).claims
            else:
                claims = jwt.decode(header[7:], self.key, algorithms=["ES256"]).claims
        except Exception:
            return None
        if claims["exp"] < time.time() or claims["session_id"] in self.revoked_sessions:
            return None
        user = self.users.get(claims["sub"])
        return (user, claims) if user else None


def _error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def build_app(state: GoTrue) -> Starlette:
    async def token(request: Request) -> Response:
        state.requests.append(f"token:{request.query_params.get('grant_type')}")
        if request.headers.get("apikey") != ANON_KEY:
            return JSONResponse({"message": "No API key found in request"}, status_code=401)
        body = await request.json()
        grant = request.query_params.get("grant_type")
        if grant == "password":
            for user in state.users.values():
                if user.email == body.get("email") and secrets.compare_digest(user.password, body.get("password", "")):
                    return JSONResponse(state.issue(user))
            return _error(400, "invalid_grant", "Invalid login credentials")
        if grant == "refresh_token":
            found = state.refresh_tokens.get(body.get("refresh_token", ""))
            if found is None:
                return _error(400, "invalid_grant", "Invalid Refresh Token: Refresh Token Not Found")
            if found.revoked:
                # reuse of a spent token: revoke the whole family (session)
                state.revoke_session(found.session_id)
                return _error(400, "invalid_grant", "Invalid Refresh Token: Already Used")
            found.revoked = True
            return JSONResponse(state.issue(state.users[found.user_id], found.session_id))
        if grant == "pkce":
            flow = state.codes.pop(body.get("auth_code", ""), None)
            if flow is None:
                return _error(400, "invalid_grant", "invalid flow state, no valid flow state found")
            digest = hashlib.sha256(body.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != flow["challenge"]:
                return _error(400, "invalid_grant", "code challenge does not match previously saved code verifier")
            return JSONResponse(state.issue(state.users[flow["user_id"]]))
        return _error(400, "unsupported_grant_type", f"unsupported grant_type {grant!r}")

    async def authorize(request: Request) -> Response:
        state.requests.append("authorize")
        q = request.query_params
        if q.get("provider") != "google":
            return _error(400, "validation_failed", "Unsupported provider: provider is not enabled")
        if (q.get("code_challenge_method") or "").lower() != "s256" or not q.get("code_challenge"):
            return _error(400, "validation_failed", "PKCE with code_challenge_method s256 is required")
        flow_state = secrets.token_urlsafe(16)
        state.flows[flow_state] = {"redirect_to": q.get("redirect_to", ""), "challenge": q["code_challenge"]}
        callback = str(request.url_for("callback"))
        if state.provider_authorize is None:
            target = str(request.url_for("test_provider")) + "?" + urlencode({"state": flow_state, "redirect_uri": callback})
        else:
            target = state.provider_authorize + "?" + urlencode({
                "response_type": "code", "client_id": "gotrue", "redirect_uri": callback,
                "scope": "openid email profile", "state": flow_state})
        return RedirectResponse(target, status_code=302)

    async def test_provider(request: Request) -> Response:
        """A stand-in for Google's consent screen: the user says yes at once."""
        q = request.query_params
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode({"state": q["state"], "code": "stand-in"}),
                                status_code=302)

    async def callback(request: Request) -> Response:
        state.requests.append("callback")
        flow = state.flows.pop(request.query_params.get("state", ""), None)
        if flow is None:
            return _error(400, "bad_oauth_state", "OAuth state is invalid or expired")
        if "error" in request.query_params:  # the provider said no: pass it on to the app
            q = request.query_params
            return RedirectResponse(flow["redirect_to"] + "?" + urlencode({
                "error": q["error"], "error_code": "provider_error",
                "error_description": q.get("error_description", q["error"])}), status_code=302)
        email = state.google_email
        if state.provider_authorize is not None and state.external_email is not None:
            email = state.external_email(request.query_params["code"], str(request.url_for("callback")))
        user = next((u for u in state.users.values() if u.email == email), None) or state.add_user(email, secrets.token_hex())
        code = str(uuid.uuid4())
        state.codes[code] = {"user_id": user.id, "challenge": flow["challenge"]}
        return RedirectResponse(flow["redirect_to"] + "?" + urlencode({"code": code}), status_code=302)

    async def user(request: Request) -> Response:
        state.requests.append("user")
        found = state.bearer_user(request)
        if found is None:
            return _error(401, "unauthorized", "invalid JWT")
        return JSONResponse(state._user_json(found[0]))

    async def logout(request: Request) -> Response:
        state.requests.append(f"logout:{request.query_params.get('scope', 'global')}")
        found = state.bearer_user(request)
        if found is None:
            return _error(401, "unauthorized", "invalid JWT")
        user, claims = found
        scope = request.query_params.get("scope", "global")
        sessions = {t.session_id for t in state.refresh_tokens.values() if t.user_id == user.id}
        if scope == "local":
            sessions = {claims["session_id"]}
        elif scope == "others":
            sessions.discard(claims["session_id"])
        for session_id in sessions:
            state.revoke_session(session_id)
        return Response(status_code=204)

    async def jwks(request: Request) -> Response:
        state.requests.append("jwks")
        if state.hs256_secret is not None:
            return JSONResponse({"keys": []})  # the shared secret is never published
        return JSONResponse({"keys": [state.key.as_dict(private=False, alg="ES256", use="sig")]})

    async def delete_user(request: Request) -> Response:
        """GoTrue's admin API: only a service-role JWT may delete a user (a user's own token,
        or the anon key, gets 403 "User not allowed"), never a user themself."""
        state.requests.append("admin_delete")
        if not state.allow_delete:
            return _error(403, "forbidden", "account deletion is not allowed")
        if state.admin_claims(request) is None:
            return JSONResponse({"code": 403, "error_code": "not_admin", "msg": "User not allowed"}, status_code=403)
        user_id = request.path_params["user_id"]
        if user_id not in state.users:
            return JSONResponse({"code": 404, "error_code": "user_not_found", "msg": "User not found"},
                                status_code=404)
        state.delete_user(user_id)
        return JSONResponse({})

    async def delete_account_function(request: Request) -> Response:
        """The service's account-deletion Edge Function: the signed-in user's token in, the user
        deleted with the service-role key it holds server-side."""
        state.requests.append("function:delete-account")
        found = state.bearer_user(request)
        if found is None:
            return _error(401, "unauthorized", "invalid JWT")
        state.delete_user(found[0].id)
        return Response(status_code=204)

    return Starlette(routes=[
        Route("/auth/v1/token", token, methods=["POST"]),
        Route("/auth/v1/user", user, methods=["GET"]),
        Route("/auth/v1/authorize", authorize, methods=["GET"]),
        Route("/auth/v1/callback", callback, methods=["GET"], name="callback"),
        Route("/test-provider/authorize", test_provider, methods=["GET"], name="test_provider"),
        Route("/auth/v1/logout", logout, methods=["POST"]),
        Route("/auth/v1/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/auth/v1/admin/users/{user_id}", delete_user, methods=["DELETE"]),
        Route("/functions/v1/delete-account", delete_account_function, methods=["POST"]),
    ])


@attrs.define
class RunningGoTrue:
    url: str
    state: GoTrue


def serve(state: GoTrue) -> Iterator[RunningGoTrue]:
    """Run the server on 127.0.0.1:0 in a thread for the duration of the generator."""
    config = uvicorn.Config(build_app(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("GoTrue test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningGoTrue(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(5)
