"""The subscription (entitlement): signed claims from the service, cached with an offline grace period.

Where the claims come from (``register_entitlement_sources``; built-in, in this order):

* ``service`` — a signed entitlement token from ``GET <url>/functions/v1/entitlement``
  (claims ``aud: printmanager-entitlement``, ``sub``, ``iat``, ``exp``, ``plan``, ``status``,
  ``features``, ``current_period_end``);
* ``access-token`` — the same claims under ``app_metadata.entitlement`` of the access token
  (how a Stripe webhook usually writes them into Supabase).

Every token is verified against the project's JWKS (ES256/RS256) with joserfc; a payment
secret is never on the device. The last verified service token is cached in the vault
(entry ``account.entitlement``, beside the public JWKS it verified with) and verified again
every time it is read, so a changed cache is refused. An access token is never cached (it
lives only in memory).

When the cached token is past its ``exp`` the service is asked again; when it cannot be
reached the cached one still counts until ``iat`` (the service's signed time of the last
successful check) plus the grace period (setting ``account.entitlement_grace_days``, 7).

Only hosted cloud features are gated (:func:`require_entitlement`): the local catalogue and
sync to the user's own storage never call into this module.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import attrs

from .errors import AccountError, EntitlementRequired, NotSignedIn, ServiceUnreachable

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from .session import Session

AUDIENCE = "printmanager-entitlement"
ALGORITHMS = ["ES256", "RS256"]
SECRET_NAME = "account.entitlement"  # = session.ENTITLEMENT_SECRET_NAME
SETTING_GRACE_DAYS = "account.entitlement_grace_days"
DEFAULT_GRACE_DAYS = 7
#: subscription statuses that allow a plan's features
ACTIVE_STATUSES = ("active", "trialing")
#: hosted cloud features (what a plan's ``features`` claim lists)
HOSTED_STORAGE = "hosted_storage"
#: seconds of clock difference tolerated between the device and the service
LEEWAY = 300

#: the clock (a one-item list so tests can put in one of their own)
CLOCK: list[Callable[[], float]] = [time.time]


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).isoformat(timespec="seconds")


@attrs.frozen
class Entitlement:
    """The verified subscription: plan, status, features and dates (POSIX timestamps).

    ``checked_at`` is the service's signed time of the check (the token's ``iat``);
    ``offline`` is true for a cached token past its ``exp``: it stands in while the service
    cannot be reached, until ``grace_until``; after that it is ``lapsed`` and allows nothing.
    """

    plan: str
    status: str
    features: tuple[str, ...]
    renews_at: float | None
    checked_at: float
    expires_at: float
    source: str
    offline: bool = False
    grace_until: float | None = None
    lapsed: bool = False

    @property
    def active(self) -> bool:
        """Whether the subscription is in force (``active`` or ``trialing``, and not lapsed)."""
        return self.status in ACTIVE_STATUSES and not self.lapsed

    def allows(self, feature: str) -> bool:
        """Whether the plan, in force, includes ``feature``."""
        return self.active and feature in self.features

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates in ISO 8601, UTC)."""
        return {"plan": self.plan, "status": self.status, "active": self.active, "features": list(self.features),
                "renews_at": _iso(self.renews_at), "checked_at": _iso(self.checked_at),
                "expires_at": _iso(self.expires_at), "source": self.source, "offline": self.offline,
                "grace_until": _iso(self.grace_until), "lapsed": self.lapsed}


@attrs.frozen
class Evidence:
    """A signed token an entitlement source found: ``cacheable`` ones are kept in the vault."""

    token: str = attrs.field(repr=False)
    source: str
    cacheable: bool = True
    #: the claims sit under ``app_metadata.entitlement`` of an access token (aud ``authenticated``)
    in_access_token: bool = False


@attrs.frozen
class EntitlementContext:
    """What a source is given: the service's address, its public anon key, the signed-in user's
    access token (in memory only) and its verified claims."""

    url: str
    anon_key: str
    access_token: str = attrs.field(repr=False)
    claims: dict[str, Any] = attrs.field(repr=False)


class EntitlementSource(Protocol):
    """What a ``register_entitlement_sources`` factory returns."""

    def fetch(self, context: EntitlementContext) -> Evidence | None:
        """A signed token carrying the subscription, or None when this source has none."""


class ServiceSource:
    """The built-in ``service`` source: the service's signed entitlement token."""

    def fetch(self, context: EntitlementContext) -> Evidence | None:
        from .service import ServiceClient

        client = ServiceClient(context.url, context.anon_key)
        try:
            token = client.entitlement_token(context.access_token)
        finally:
            client.close()
        return Evidence(token, "service") if token else None


class AccessTokenSource:
    """The built-in ``access-token`` source: ``app_metadata.entitlement`` of the access token."""

    def fetch(self, context: EntitlementContext) -> Evidence | None:
        if not isinstance((context.claims.get("app_metadata") or {}).get("entitlement"), dict):
            return None
        return Evidence(context.access_token, "access-token", cacheable=False, in_access_token=True)


def entitlement_sources() -> "dict[str, Callable[[], EntitlementSource]]":
    """Every registered entitlement source factory by name, in the order they are asked."""
    from printmanager_core.registry import collect

    registry = collect("register_entitlement_sources", lambda name, factory: name)
    return {entry.name: entry.value for entry in registry}


# -- verification -------------------------------------------------------------------


def verify(token: str, jwks: dict[str, Any], *, in_access_token: bool = False, source: str = "service",
           subject: str | None = None) -> tuple[Entitlement, dict[str, Any]]:
    """Verify ``token``'s signature against ``jwks`` and read the entitlement from its claims.

    The signature, audience, subject and shape are checked here; whether it is still
    fresh (``exp``) or within the grace period is the caller's decision.

    :raises TokenInvalid: a bad signature, a wrong audience or subject, or malformed claims.
    """
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    from .errors import TokenInvalid

    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)
        claims = dict(decoded.claims)
        options: dict[str, Any] = {"sub": {"essential": True, **({"value": subject} if subject else {})},
                                   "iat": {"essential": True}, "exp": {"essential": True},
                                   "aud": {"essential": True, "value": "authenticated" if in_access_token else AUDIENCE}}
        # ``now`` = the token's own iat: the claims are checked for shape; freshness is ours to judge
        jwt.JWTClaimsRegistry(now=int(claims.get("iat", 0)), **options).validate(claims)
        body = (claims.get("app_metadata") or {}).get("entitlement") if in_access_token else claims
        if not isinstance(body, dict):
            raise ValueError("no entitlement claims")
        features = body.get("features") or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ValueError("'features' must be a list of names")
        renews = body.get("current_period_end")
        entitlement = Entitlement(str(body.get("plan") or "free"), str(body.get("status") or "none"),
                                  tuple(features), float(renews) if renews is not None else None,
                                  float(claims["iat"]), float(claims["exp"]), source)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise TokenInvalid(f"the entitlement did not verify: {exc}") from None
    return entitlement, claims


# -- the cache ----------------------------------------------------------------------


def _grace_seconds(library: "Library") -> float:
    try:
        days = library.settings.get(SETTING_GRACE_DAYS)
    except Exception:  # the setting is unknown without this plugin's settings: the default
        days = DEFAULT_GRACE_DAYS
    return float(days if days is not None else DEFAULT_GRACE_DAYS) * 86400.0


def _open_session(library: "Library") -> "Session":
    from printmanager_vault import open_vault

    from .session import Session

    return Session(open_vault(library))


def _read_cache(session: "Session") -> tuple[Entitlement, dict[str, Any]] | None:
    vault = session.vault
    if not vault.exists() or SECRET_NAME not in vault.names():
        return None
    try:
        saved = json.loads(vault.get(SECRET_NAME))
        return verify(saved["token"], saved["jwks"], source="service")
    except (AccountError, ValueError, KeyError, TypeError):
        vault.delete(SECRET_NAME, missing_ok=True)  # changed or damaged: it counts for nothing
        return None


def cached_entitlement(library: "Library", *, session: "Session | None" = None) -> Entitlement | None:
    """The cached, verified entitlement (no network), or None; marked ``offline`` when past its
    ``exp`` and ``lapsed`` when past the grace period too."""
    session = session or _open_session(library)
    with session.vault.unlocked():  # one key derivation for the reads below
        if session.account() is None:
            return None
        found = _read_cache(session)
    if found is None:
        return None
    entitlement = found[0]
    now = CLOCK[0]()
    grace_until = entitlement.checked_at + _grace_seconds(library)
    offline = now >= entitlement.expires_at
    return attrs.evolve(entitlement, offline=offline, grace_until=grace_until, lapsed=offline and now >= grace_until)


def _ask_sources(session: "Session") -> Iterator[tuple[Evidence, dict[str, Any], dict[str, Any]]]:
    tokens = session.access_token()  # may rotate the refresh token (network)
    provider = session.provider()
    try:
        jwks = provider.jwks(reload=True).as_dict(private=False)
    finally:
        provider.close()
    context = EntitlementContext(provider.url, provider.anon_key, tokens.access_token, tokens.claims)
    for factory in entitlement_sources().values():
        evidence = factory().fetch(context)
        if evidence is not None:
            yield evidence, jwks, tokens.claims


def _check_fresh(entitlement: Entitlement) -> None:
    """A token the service just gave must be in date: not past ``exp``, not issued in the future."""
    from .errors import TokenInvalid

    now = CLOCK[0]()
    if entitlement.expires_at <= now - LEEWAY:
        raise TokenInvalid(f"the entitlement did not verify: it expired at {_iso(entitlement.expires_at)}")
    if entitlement.checked_at > now + LEEWAY:
        raise TokenInvalid(f"the entitlement did not verify: it claims to be issued in the future "
                           f"({_iso(entitlement.checked_at)})")


def check_entitlement(library: "Library", *, session: "Session | None" = None) -> Entitlement:
    """Ask the sources now (network), verify, cache a service token in the vault, and return it.

    :raises NotSignedIn: nobody is signed in.
    :raises ServiceUnreachable: the service (or the identity provider) could not be reached.
    :raises TokenInvalid: the token did not verify (signature, audience, subject, shape, dates).
    """
    session = session or _open_session(library)
    with session.vault.unlocked():
        return _check(library, session)


def _check(library: "Library", session: "Session") -> Entitlement:
    if session.account() is None:
        raise NotSignedIn("not signed in (run: printmanager account login)")
    for evidence, jwks, claims in _ask_sources(session):
        entitlement, _ = verify(evidence.token, jwks, in_access_token=evidence.in_access_token,
                                source=evidence.source, subject=str(claims.get("sub")))
        _check_fresh(entitlement)
        if evidence.cacheable:
            session.vault.set(SECRET_NAME, json.dumps({"token": evidence.token, "jwks": jwks}))
        return attrs.evolve(entitlement, grace_until=entitlement.checked_at + _grace_seconds(library))
    session.vault.delete(SECRET_NAME, missing_ok=True)
    return Entitlement("free", "none", (), None, CLOCK[0](), CLOCK[0](), "none")


def current_entitlement(library: "Library", *, session: "Session | None" = None) -> Entitlement:
    """The entitlement to act on: the cached one while fresh, else a new check; when the service
    cannot be reached, the cached one within its grace period (marked ``offline``).

    :raises EntitlementRequired: nobody is signed in, or offline past the grace period.
    """
    session = session or _open_session(library)
    with session.vault.unlocked():
        return _current(library, session)


def _current(library: "Library", session: "Session") -> Entitlement:
    if session.account() is None:
        raise EntitlementRequired("hosted cloud features need a signed-in account (run: printmanager account login)")
    cached = cached_entitlement(library, session=session)
    if cached is not None and not cached.offline:
        return cached
    try:
        return check_entitlement(library, session=session)
    except ServiceUnreachable as exc:
        if cached is not None and not cached.lapsed:
            return cached
        last = (f"last checked {_iso(cached.checked_at)}, the grace period ended {_iso(cached.grace_until)}"
                if cached else "never checked")
        raise EntitlementRequired(f"cannot check the subscription ({last}): {exc}") from None


def require_entitlement(library: "Library", feature: str, *, session: "Session | None" = None) -> Entitlement:
    """The entitlement if it includes ``feature`` (e.g. ``hosted_storage``), else one-line
    :class:`EntitlementRequired`. Used only by hosted cloud features."""
    entitlement = current_entitlement(library, session=session)
    if not entitlement.allows(feature):
        if not entitlement.active:
            raise EntitlementRequired(f"{feature} needs a subscription (plan {entitlement.plan}, "
                                      f"status {entitlement.status})")
        raise EntitlementRequired(f"{feature} is not part of the {entitlement.plan} plan")
    return entitlement
