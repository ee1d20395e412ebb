"""The printmanager service's own endpoints, beside Supabase Auth: Supabase Edge Functions.

Both live under the project's address (``<url>/functions/v1/...``) and take the signed-in
user's access token as ``Authorization: Bearer`` (plus the public anon key):

* ``GET /functions/v1/entitlement`` -> ``{"token": "<JWS>"}``: the subscription as a signed
  entitlement token (ES256/RS256, verified against the project's JWKS; see :mod:`.entitlement`).
  The service reads the subscription from its payment provider (Stripe); no payment secret
  is ever on the device.
* ``POST /functions/v1/storage-credentials`` -> STS-style ``AccessKeyId``, ``SecretAccessKey``,
  ``SessionToken``, ``Expiration`` and where they are good for (``Endpoint``, ``Bucket``,
  ``Region``, ``Prefix``): short-lived storage credentials scoped to the user's prefix.

Nothing here stores anything: the callers decide (the entitlement token is cached in the
vault, the storage credentials stay in memory).
"""

from __future__ import annotations

from typing import Any

import httpx

from .errors import AccountError, ServiceUnreachable

TIMEOUT = 15.0
ENTITLEMENT_PATH = "/functions/v1/entitlement"
STORAGE_CREDENTIALS_PATH = "/functions/v1/storage-credentials"


class ServiceClient:
    """The service of one Supabase project (``url``, public ``anon_key``)."""

    def __init__(self, url: str, anon_key: str, *, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.anon_key = anon_key
        self._client = client or httpx.Client(timeout=TIMEOUT)

    def _call(self, method: str, path: str, access_token: str, what: str) -> httpx.Response | None:
        headers = {"apikey": self.anon_key, "Authorization": f"Bearer {access_token}"}
        try:
            response = self._client.request(method, f"{self.url}{path}", headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"cannot reach the printmanager service at {self.url}: {exc}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise ServiceUnreachable(f"the printmanager service failed to give {what}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise AccountError(f"the printmanager service refused {what}: {_message(response)}")
        return response

    def entitlement_token(self, access_token: str) -> str | None:
        """The signed entitlement token, or None when the service has no entitlement endpoint."""
        response = self._call("GET", ENTITLEMENT_PATH, access_token, "the subscription status")
        if response is None:
            return None
        token = _json(response).get("token")
        if not isinstance(token, str):
            raise AccountError("the printmanager service sent no entitlement token")
        return token

    def storage_credentials(self, access_token: str) -> dict[str, Any]:
        """Fresh short-lived storage credentials for the signed-in user (STS-style fields)."""
        response = self._call("POST", STORAGE_CREDENTIALS_PATH, access_token, "storage credentials")
        if response is None:
            raise AccountError("the printmanager service offers no hosted storage")
        return _json(response)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise AccountError("the printmanager service sent a response that is not JSON") from None
    if not isinstance(data, dict):
        raise AccountError("the printmanager service sent an unexpected response")
    return data


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or body.get("error")
                   or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"
