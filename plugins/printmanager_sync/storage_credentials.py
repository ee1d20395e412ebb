"""Short-lived, user-scoped S3 credentials from a source (``register_storage_credential_sources``).

A backend configured with ``{"credentials": NAME, ...}`` does not read static keys: it asks
the source ``NAME`` (the account plugin's ``account`` asks the printmanager service) for
STS-style temporary credentials — ``AccessKeyId``, ``SecretAccessKey``, ``SessionToken``,
``Expiration`` — and signs every request with them (SigV4 with ``x-amz-security-token``).
They are refreshed before they expire, in the middle of a long multipart upload too, by
botocore's :class:`~botocore.credentials.RefreshableCredentials` (each request is signed
with one consistent frozen set). They live only in memory: nothing here writes them anywhere.

This module does not import the account plugin (or any source): sources come through the hook.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

import attrs

from .errors import SyncError

if TYPE_CHECKING:  # pragma: no cover
    from botocore.credentials import Credentials as BotoCredentials

    from printmanager_core.library import Library
    from printmanager_core.registry import Registry

#: refresh when fewer than this many seconds are left (botocore's "advisory" refresh: a failure
#: is tolerated while the old credentials still have ``MANDATORY_REFRESH`` seconds)
ADVISORY_REFRESH = 300
#: refresh must succeed when fewer than this many seconds are left
MANDATORY_REFRESH = 120

#: the clock the refresh logic reads (a one-item list so tests can put in a clock of their own)
CLOCK: list[Callable[[], float]] = [time.time]


@attrs.frozen
class TemporaryCredentials:
    """One set of temporary credentials and, optionally, where they are good for.

    ``expiration`` is a POSIX timestamp. ``endpoint``, ``bucket``, ``region`` and
    ``prefix`` (e.g. ``users/<id>/``) say what the source scoped them to; a backend
    uses them where its configuration gives none.
    """

    access_key_id: str
    secret_access_key: str = attrs.field(repr=False)
    session_token: str = attrs.field(repr=False)
    expiration: float
    endpoint: str | None = None
    bucket: str | None = None
    region: str | None = None
    prefix: str | None = None

    @classmethod
    def from_sts(cls, data: dict[str, Any], **scope: str | None) -> "TemporaryCredentials":
        """From an STS-style dict (``AccessKeyId``, ``SecretAccessKey``, ``SessionToken``,
        ``Expiration`` as ISO 8601 or a POSIX timestamp)."""
        try:
            expiration = data["Expiration"]
            if isinstance(expiration, str):
                expiration = datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
            return cls(str(data["AccessKeyId"]), str(data["SecretAccessKey"]), str(data["SessionToken"]),
                       float(expiration), **scope)
        except (KeyError, TypeError, ValueError) as exc:
            raise SyncError(f"the storage credentials are incomplete or malformed ({exc})") from None

    @property
    def user(self) -> str | None:
        """The user id of a ``users/<id>/`` prefix, if the credentials are scoped to one."""
        if self.prefix and self.prefix.startswith("users/") and self.prefix.count("/") == 2:
            return self.prefix[len("users/"):-1] or None
        return None


class StorageCredentialSource(Protocol):
    """What a ``register_storage_credential_sources`` factory returns."""

    def fetch(self) -> TemporaryCredentials:
        """Fresh temporary credentials (may use the network); raise ``SyncError`` subclasses."""


def credential_source_registry() -> "Registry[Any]":
    """Sources registered through ``register_storage_credential_sources``: name -> factory."""
    from printmanager_core.registry import collect

    return collect("register_storage_credential_sources", lambda name, factory: name)


def open_credential_source(config: dict[str, Any], library: "Library | None") -> StorageCredentialSource:
    """The source ``config["credentials"]`` names, built for this backend configuration."""
    name = str(config.get("credentials") or "")
    registry = credential_source_registry()
    if name not in registry:
        known = ", ".join(registry.names()) or "none"
        raise SyncError(f"unknown storage credential source {name!r} (known: {known})")
    return registry.get(name)(config, library)  # type: ignore[no-any-return]


def _aware(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)


class RefreshingCredentials:
    """Temporary credentials from ``source``, refreshed before they expire.

    Quacks like :class:`printmanager_sync.s3client.Credentials` (``access_key_id``,
    ``botocore()``), so :class:`~printmanager_sync.s3client.S3Client` signs with it unchanged.
    The first set is fetched at once (so a wrong sign-in fails before anything is sent).
    """

    def __init__(self, source: StorageCredentialSource, *, advisory: int = ADVISORY_REFRESH,
                 mandatory: int = MANDATORY_REFRESH) -> None:
        self.source = source
        self.advisory = advisory
        self.mandatory = mandatory
        #: how many sets were fetched (the first included)
        self.fetches = 0
        self._lock = threading.Lock()
        self.first = self._fetch()
        self._boto = self._refreshable(self.first)

    def _fetch(self) -> TemporaryCredentials:
        fresh = self.source.fetch()
        self.latest = fresh
        self.fetches += 1
        return fresh

    def _refreshable(self, creds: TemporaryCredentials) -> Any:
        from botocore.credentials import RefreshableCredentials

        return RefreshableCredentials(
            creds.access_key_id, creds.secret_access_key, creds.session_token, _aware(creds.expiration),
            self._refresh, "printmanager-storage-credentials", time_fetcher=lambda: _aware(CLOCK[0]()),
            advisory_timeout=self.advisory, mandatory_timeout=self.mandatory,
        )  # fmt: skip

    def _refresh(self) -> dict[str, str]:
        fresh = self._fetch()
        return {"access_key": fresh.access_key_id, "secret_key": fresh.secret_access_key,
                "token": fresh.session_token, "expiry_time": _aware(fresh.expiration).isoformat()}

    def _frozen(self) -> Any:
        try:
            return self._boto.get_frozen_credentials()
        except RuntimeError as exc:  # botocore: "refreshed, but the refreshed credentials are still expired"
            raise SyncError(f"the storage credentials could not be renewed: {exc}") from None

    @property
    def access_key_id(self) -> str:
        """The access key id of the set in use."""
        return str(self._frozen().access_key)

    def botocore(self) -> "BotoCredentials":
        """One consistent set (refreshed first if it is about to expire) as botocore's object."""
        from botocore.credentials import Credentials as BotoCredentials

        frozen = self._frozen()
        return BotoCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def force_refresh(self, stale: str | None = None) -> None:
        """Fetch a new set now (the server said the token expired before our clock did).

        :param stale: the access key id the server refused; when another thread has already
            replaced it, nothing is fetched.
        """
        with self._lock:
            if stale is not None and self._boto.access_key != stale:
                return
            self._boto = self._refreshable(self._fetch())


def resolve_target(config: dict[str, Any], library: "Library | None") -> tuple[dict[str, Any], str | None]:
    """Fill in what the source scopes its credentials to: ``(config, user)``.

    The endpoint, bucket and region the source names go where ``config`` gives none;
    ``user`` is the id of the ``users/<id>/`` prefix the credentials are limited to (or None).
    One fetch; the credentials themselves are dropped here.
    """
    first = open_credential_source(config, library).fetch()
    filled = dict(config)
    for key in ("endpoint", "bucket", "region"):
        value = getattr(first, key)
        if value and not filled.get(key):
            filled[key] = value
    return filled, first.user


def scoped_target(config: dict[str, Any], library: "Library | None", user: str | None) -> tuple[dict[str, Any], str | None]:
    """For a configuration with ``credentials``: :func:`resolve_target`, and the sync user
    the credentials are scoped to (``user`` must agree when both are given)."""
    if not config.get("credentials"):
        return config, user
    config, scoped = resolve_target(config, library)
    if scoped and user and user != scoped:
        raise SyncError(f"the storage credentials are scoped to user {scoped}, not {user}")
    return config, scoped or user
