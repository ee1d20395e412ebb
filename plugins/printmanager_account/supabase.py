"""The built-in identity provider: Supabase Auth (GoTrue) over its documented REST API, with httpx.

Endpoints used (all under ``<project url>/auth/v1``): ``POST /token?grant_type=password``,
``POST /token?grant_type=refresh_token``, ``GET /user``, ``POST /logout?scope=...`` and
``GET /.well-known/jwks.json``. Access tokens are verified against the JWKS (ES256/RS256);
nothing here writes a token anywhere — :mod:`.session` decides where each one lives.
"""

from __future__ import annotations

import json
import time
from typing import Any

import attrs
import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import AccountError, ServiceUnreachable, SignInFailed, TokenInvalid

ALGORITHMS = ["ES256", "RS256"]
TIMEOUT = 15.0


@attrs.frozen
class Tokens:
    """What a successful grant returns: the access token (kept in memory), the refresh token
    (kept in the vault) and the verified claims of the access token."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)
    expires_at: float
    claims: dict[str, Any]
    user: dict[str, Any]


class SupabaseProvider:
    """Supabase Auth for one project (``url`` like ``https://xyz.supabase.co``, ``anon_key``)."""

    name = "supabase"

    def __init__(self, url: str, anon_key: str, *, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.anon_key = anon_key
        self._client = client
        self._jwks: KeySet | None = None

    # -- HTTP -------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=TIMEOUT)
        return self._client

    def _request(self, method: str, path: str, *, bearer: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"apikey": self.anon_key}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            return self._http().request(method, f"{self.url}/auth/v1{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"cannot reach the identity provider at {self.url}: {exc}") from None

    @staticmethod
    def _error(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return f"HTTP {response.status_code}"
        return str(body.get("error_description") or body.get("msg") or body.get("message")
                   or body.get("error") or f"HTTP {response.status_code}")

    # -- grants -----------------------------------------------------------
    def _grant(self, grant_type: str, body: dict[str, Any]) -> Tokens:
        response = self._request("POST", "/token", params={"grant_type": grant_type}, json=body)
        if response.status_code != 200:
            raise SignInFailed(f"sign-in refused by the provider: {self._error(response)}")
        data = response.json()
        claims = self.verify(data["access_token"])
        expires_at = float(data.get("expires_at") or time.time() + float(data.get("expires_in", 3600)))
        return Tokens(data["access_token"], data["refresh_token"], expires_at, claims, data.get("user") or {})

    def sign_in_password(self, email: str, password: str) -> Tokens:
        """Email + password sign-in (``grant_type=password``)."""
        return self._grant("password", {"email": email, "password": password})

    def refresh(self, refresh_token: str) -> Tokens:
        """Trade a refresh token for new tokens; the provider rotates it (the old one is spent)."""
        return self._grant("refresh_token", {"refresh_token": refresh_token})

    def exchange_code(self, auth_code: str, code_verifier: str) -> Tokens:
        """The PKCE leg of OAuth sign-in (``grant_type=pkce``)."""
        return self._grant("pkce", {"auth_code": auth_code, "code_verifier": code_verifier})

    def authorize_url(self, provider: str, redirect_to: str, code_challenge: str) -> str:
        """The ``/authorize`` address that starts an OAuth sign-in with PKCE S256."""
        query = httpx.QueryParams({"provider": provider, "redirect_to": redirect_to,
                                   "code_challenge": code_challenge, "code_challenge_method": "s256"})
        return f"{self.url}/auth/v1/authorize?{query}"

    def user(self, access_token: str) -> dict[str, Any]:
        """The signed-in user (``GET /user``)."""
        response = self._request("GET", "/user", bearer=access_token)
        if response.status_code != 200:
            raise AccountError(f"cannot read the account: {self._error(response)}")
        return dict(response.json())

    def sign_out(self, access_token: str, scope: str = "local") -> None:
        """Revoke the session's refresh tokens (``POST /logout?scope=``)."""
        response = self._request("POST", "/logout", params={"scope": scope}, bearer=access_token)
        if response.status_code not in (200, 204, 401, 404):
            raise AccountError(f"sign-out refused by the provider: {self._error(response)}")

    # -- verification -----------------------------------------------------
    def jwks(self, *, reload: bool = False) -> KeySet:
        """The project's public keys (cached; reloaded once when a token names an unknown key)."""
        if self._jwks is None or reload:
            response = self._request("GET", "/.well-known/jwks.json")
            if response.status_code != 200:
                raise TokenInvalid(f"cannot fetch the provider's JWKS: HTTP {response.status_code}")
            self._jwks = KeySet.import_key_set(response.json())
        return self._jwks

    def verify(self, token: str) -> dict[str, Any]:
        """Verify ``token``'s signature against the JWKS and its expiry; return its claims.

        A project still on Supabase's legacy shared-secret signing issues HS256 tokens,
        which only the server can check (the secret never leaves it; its JWKS lists no
        public key): those are verified by asking the server (``GET /user``) and
        comparing the account it names with the token's subject.
        """
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError) as exc:
            raise TokenInvalid(f"access token did not verify: {exc}") from None
        if header.get("alg") == "HS256":
            return self._verify_with_the_server(token)
        for reload in (False, True):
            try:
                decoded = jwt.decode(token, self.jwks(reload=reload), algorithms=ALGORITHMS)
                jwt.JWTClaimsRegistry(exp={"essential": True}, sub={"essential": True}).validate(decoded.claims)
                return dict(decoded.claims)
            except (JoseError, ValueError) as exc:
                if reload:
                    raise TokenInvalid(f"access token did not verify: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _verify_with_the_server(self, token: str) -> dict[str, Any]:
        """Check a shared-secret (HS256) token by asking the server who it belongs to."""
        claims = jws.extract_compact(token.encode("ascii")).payload
        try:
            unverified = json.loads(claims)
            registry = jwt.JWTClaimsRegistry(exp={"essential": True}, sub={"essential": True})
            registry.validate(unverified)
        except (JoseError, ValueError) as exc:
            raise TokenInvalid(f"access token did not verify: {exc}") from None
        response = self._request("GET", "/user", bearer=token)
        if response.status_code != 200 or response.json().get("id") != unverified["sub"]:
            raise TokenInvalid("access token did not verify: the provider does not accept it")
        return dict(unverified)

    # -- account deletion (privacy delete) ---------------------------------
    def delete_user_as_admin(self, user_id: str, service_role_key: str) -> None:
        """Delete the user ``user_id`` with GoTrue's admin API (``DELETE /admin/users/{id}``).

        GoTrue lets no user delete themself with the anon key: this needs the project's
        service-role key (for a project the user runs themself; see ``docs/account.md``).
        """
        headers = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
        try:
            response = self._http().request("DELETE", f"{self.url}/auth/v1/admin/users/{user_id}", headers=headers)
        except httpx.HTTPError as exc:
            raise AccountError(f"cannot reach the identity provider at {self.url}: {exc}") from None
        if response.status_code not in (200, 204):
            raise AccountError(f"the provider refused to delete the account: {self._error(response)}")

    def delete_account_at(self, endpoint: str, access_token: str) -> None:
        """Ask the service's own account-deletion endpoint (e.g. a Supabase Edge Function at
        ``/functions/v1/delete-account``) to delete the signed-in user: ``POST`` with the user's
        access token; the service holds the admin key, never the device."""
        address = endpoint if "://" in endpoint else f"{self.url}/{endpoint.lstrip('/')}"
        headers = {"apikey": self.anon_key, "Authorization": f"Bearer {access_token}"}
        try:
            response = self._http().request("POST", address, headers=headers)
        except httpx.HTTPError as exc:
            raise AccountError(f"cannot reach the account-deletion endpoint {address}: {exc}") from None
        if response.status_code not in (200, 202, 204):
            raise AccountError(f"the service refused to delete the account: {self._error(response)}")

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
