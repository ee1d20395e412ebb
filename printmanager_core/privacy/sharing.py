"""Share records (PROMISE 7): recipients, distribution lists, share links, access logs.

printmanager does not serve shares itself; an app that shares a model, a file or
a collection records it here, so that the user can see (and export) who got
what, and so that retention rules (:mod:`.retention`) delete the records on
schedule: access-log entries after ``retention.access_log_days``, revoked or
expired links (with their log) ``retention.ended_share_days`` after they ended,
and recipients and lists no live link uses after ``retention.unused_recipient_days``.

    shares = Shares.for_library(lib)
    link = shares.share("model", 12, recipient="ana@example.org", expires_in_days=7)
    shares.log_access(link.token, "download", client="203.0.113.5")
    shares.revoke(link.id)
"""

from __future__ import annotations

import datetime as _dt
import secrets
from typing import Any, Iterable

import attrs
from sqlite_utils import Database

from ..errors import NotFound, UsageError
from ..settings import now_iso
from ..store.shares import LinkRow, SharesGateway

TARGET_KINDS = ("file", "model", "collection", "query")
ACTIONS = ("view", "open", "download", "denied")


def _iso(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


@attrs.frozen
class Recipient:
    """Someone a share was (or may be) sent to."""

    id: int
    address: str
    name: str = ""
    created_at: str = ""
    last_used_at: str | None = None


@attrs.frozen
class DistributionList:
    """A named group of recipients."""

    id: int
    name: str
    members: tuple[str, ...] = ()
    created_at: str = ""
    last_used_at: str | None = None


@attrs.frozen
class ShareLink:
    """A link giving access to a file, a model or a collection, maybe expiring."""

    id: int
    #: the secret part of the link: known only from :meth:`Shares.share` (the library keeps its hash)
    token: str | None
    target_kind: str
    target_id: int
    recipient: str | None = None
    distribution_list: str | None = None
    created_at: str = ""
    expires_at: str | None = None
    revoked_at: str | None = None

    def active(self, at: str | None = None) -> bool:
        """Neither revoked nor expired at ``at`` (default: now)."""
        at = at or now_iso()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)


@attrs.frozen
class AccessLogEntry:
    """One use of a share link."""

    id: int
    link_id: int
    at: str
    action: str
    allowed: bool
    client: str = ""


class Shares:
    """The share records of one library (through :class:`~printmanager_core.store.shares.SharesGateway`)."""

    def __init__(self, db: Database):
        self.db = db
        self._store = SharesGateway(db)

    @classmethod
    def for_library(cls, library: Any) -> "Shares":
        """The share records of a :class:`~printmanager_core.Library`."""
        return cls(library.store.db)

    # -- recipients and lists ------------------------------------------------

    def add_recipient(self, address: str, name: str = "") -> Recipient:
        """Record a recipient (an e-mail address or any handle); the existing one if known."""
        address = address.strip()
        if not address or any(c in address for c in "\r\n\t"):
            raise UsageError(f"{address!r} is not a recipient address")
        self._store.add_recipient(address, name, now_iso())
        return self.recipient(address)

    def recipient(self, address_or_id: str | int) -> Recipient:
        """One recipient by address or id."""
        row = self._store.recipient(address_or_id)
        if row is None:
            raise NotFound(f"no recipient {address_or_id}")
        return Recipient(row.id, row.address, row.name, row.created_at, row.last_used_at)

    def recipients(self) -> list[Recipient]:
        """Every recipient, by address."""
        return [Recipient(r.id, r.address, r.name, r.created_at, r.last_used_at) for r in self._store.recipients()]

    def create_list(self, name: str, recipients: Iterable[str] = ()) -> DistributionList:
        """Create a distribution list (or add to the existing one) with these recipient addresses."""
        if not name.strip():
            raise UsageError("a distribution list needs a name")
        ids = [self.add_recipient(a).id for a in recipients]
        self._store.add_list(name, ids, now_iso())
        return self.distribution_list(name)

    def distribution_list(self, name: str) -> DistributionList:
        """One distribution list by name."""
        row = self._store.distribution_list(name)
        if row is None:
            raise NotFound(f"no distribution list {name!r}")
        return DistributionList(row.id, row.name, row.members, row.created_at, row.last_used_at)

    def lists(self) -> list[DistributionList]:
        """Every distribution list, by name."""
        return [self.distribution_list(name) for name in self._store.list_names()]

    # -- links and the access log --------------------------------------------

    def share(
        self,
        target_kind: str,
        target_id: int,
        *,
        recipient: str | None = None,
        distribution_list: str | None = None,
        expires_in_days: float | None = None,
        expires_at: _dt.datetime | None = None,
        at: _dt.datetime | None = None,
    ) -> ShareLink:
        """Record a new share link to a file, model or collection.

        The returned link carries its token; this is the only time it is known
        (the library keeps only the token's hash).

        :param recipient: an address (recorded as a recipient if new).
        :param distribution_list: the name of an existing distribution list.
        :param expires_in_days: the link expires this long after it is made.
        :param expires_at: or exactly then.
        :param at: when it was made (default: now).
        """
        if target_kind not in TARGET_KINDS:
            raise UsageError(f"a share is of a {', '.join(TARGET_KINDS)}, not {target_kind!r}")
        if isinstance(target_id, bool) or not isinstance(target_id, int):
            raise UsageError(f"a share target is an id, not {target_id!r}")
        made = at or _dt.datetime.now(_dt.timezone.utc)
        if expires_in_days is not None:
            if expires_in_days <= 0:
                raise UsageError("a share link must expire after it is made")
            expires_at = made + _dt.timedelta(days=expires_in_days)
        created = _iso(made)
        rid = self.add_recipient(recipient).id if recipient else None
        lid = self.distribution_list(distribution_list).id if distribution_list else None
        token = secrets.token_urlsafe(32)
        link_id = self._store.add_link(token, target_kind, target_id, rid, lid, created,
                                       _iso(expires_at) if expires_at else None)
        return attrs.evolve(self.link(link_id), token=token)

    def link(self, id_or_token: int | str) -> ShareLink:
        """One share link by id or token (its ``token`` is None: only its hash is kept)."""
        row = self._store.link(id_or_token)
        if row is None:
            raise NotFound("no such share link")
        return _link(row)

    def links(self) -> list[ShareLink]:
        """Every share link, oldest first."""
        return [_link(row) for row in self._store.links()]

    def revoke(self, id_or_token: int | str, *, at: _dt.datetime | None = None) -> ShareLink:
        """Revoke a link (it stays recorded until retention removes it)."""
        link = self.link(id_or_token)
        if link.revoked_at is None:
            self._store.revoke(link.id, _iso(at or _dt.datetime.now(_dt.timezone.utc)))
        return self.link(link.id)

    def log_access(
        self, token: str, action: str = "view", *, client: str = "", at: _dt.datetime | None = None
    ) -> AccessLogEntry:
        """Record a use of a link; a use of a revoked or expired link is logged as not allowed.

        :param client: what the app knows of who used it (an address, a user agent).
        """
        if action not in ACTIONS:
            raise UsageError(f"a share access is one of {', '.join(ACTIONS)}, not {action!r}")
        link = self.link(token)
        when = _iso(at or _dt.datetime.now(_dt.timezone.utc))
        allowed = link.active(when) and action != "denied"
        entry_id = self._store.log_access(link.id, when, action, allowed, client)
        return AccessLogEntry(entry_id, link.id, when, action, allowed, client)

    def access_log(self, link_id: int | None = None) -> list[AccessLogEntry]:
        """Access-log entries (of one link, or all), oldest first."""
        return [AccessLogEntry(r.id, r.link_id, r.at, r.action, r.allowed, r.client)
                for r in self._store.access_log(link_id)]

    # -- export and delete ---------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        """Every share record, in the shape of the export's ``shares.json``."""
        return {
            "recipients": [attrs.asdict(r) for r in self.recipients()],
            "distribution_lists": [
                {**attrs.asdict(dl), "members": list(dl.members)} for dl in self.lists()
            ],
            "links": [attrs.asdict(link) for link in self.links()],
            "access_log": [attrs.asdict(e) for e in self.access_log()],
        }

    def count(self) -> int:
        """How many share records there are (all kinds)."""
        return self._store.count()

    def clear(self) -> int:
        """Delete every share record (overwritten, not just marked free); how many rows went."""
        return self._store.clear()


def _link(row: LinkRow) -> ShareLink:
    return ShareLink(row.id, None, row.target_kind, row.target_id, row.recipient, row.distribution_list,
                     row.created_at, row.expires_at, row.revoked_at)
