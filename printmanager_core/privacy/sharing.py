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

TARGET_KINDS = ("file", "model", "collection")
ACTIONS = ("view", "download", "denied")


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
    token: str
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
    """The share records of one library."""

    def __init__(self, db: Database):
        self.db = db

    @classmethod
    def for_library(cls, library: Any) -> "Shares":
        """The share records of a :class:`~printmanager_core.Library`."""
        return cls(library.db)

    # -- recipients and lists ------------------------------------------------

    def add_recipient(self, address: str, name: str = "") -> Recipient:
        """Record a recipient (an e-mail address or any handle); the existing one if known."""
        address = address.strip()
        if not address or any(c in address for c in "\r\n\t"):
            raise UsageError(f"{address!r} is not a recipient address")
        with self.db.conn:
            self.db.execute(
                "insert or ignore into share_recipients (address, name, created_at) values (?, ?, ?)",
                [address, name, now_iso()],
            )
        return self.recipient(address)

    def recipient(self, address_or_id: str | int) -> Recipient:
        """One recipient by address or id."""
        col = "id" if isinstance(address_or_id, int) else "address"
        row = self.db.execute(
            f"select id, address, name, created_at, last_used_at from share_recipients where {col} = ?",
            [address_or_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no recipient {address_or_id}")
        return Recipient(row[0], row[1], row[2] or "", row[3], row[4])

    def recipients(self) -> list[Recipient]:
        """Every recipient, by address."""
        rows = self.db.execute(
            "select id, address, name, created_at, last_used_at from share_recipients order by address"
        ).fetchall()
        return [Recipient(r[0], r[1], r[2] or "", r[3], r[4]) for r in rows]

    def create_list(self, name: str, recipients: Iterable[str] = ()) -> DistributionList:
        """Create a distribution list (or add to the existing one) with these recipient addresses."""
        if not name.strip():
            raise UsageError("a distribution list needs a name")
        ids = [self.add_recipient(a).id for a in recipients]
        with self.db.conn:
            self.db.execute(
                "insert or ignore into share_lists (name, created_at) values (?, ?)", [name, now_iso()]
            )
            list_id = self.db.execute("select id from share_lists where name = ?", [name]).fetchone()[0]
            for rid in ids:
                self.db.execute(
                    "insert or ignore into share_list_members (list_id, recipient_id) values (?, ?)", [list_id, rid]
                )
        return self.distribution_list(name)

    def distribution_list(self, name: str) -> DistributionList:
        """One distribution list by name."""
        row = self.db.execute(
            "select id, name, created_at, last_used_at from share_lists where name = ?", [name]
        ).fetchone()
        if row is None:
            raise NotFound(f"no distribution list {name!r}")
        members = tuple(
            r[0]
            for r in self.db.execute(
                "select share_recipients.address from share_list_members join share_recipients "
                "on share_recipients.id = share_list_members.recipient_id where list_id = ? order by 1",
                [row[0]],
            )
        )
        return DistributionList(row[0], row[1], members, row[2], row[3])

    def lists(self) -> list[DistributionList]:
        """Every distribution list, by name."""
        return [self.distribution_list(r[0]) for r in self.db.execute("select name from share_lists order by name")]

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
        token = secrets.token_urlsafe(18)
        with self.db.conn:
            link_id = self.db.table("share_links").insert(
                {
                    "token": token,
                    "target_kind": target_kind,
                    "target_id": target_id,
                    "recipient_id": rid,
                    "list_id": lid,
                    "created_at": created,
                    "expires_at": _iso(expires_at) if expires_at else None,
                    "revoked_at": None,
                }
            ).last_pk
            if rid is not None:
                self.db.execute("update share_recipients set last_used_at = ? where id = ?", [created, rid])
            if lid is not None:
                self.db.execute("update share_lists set last_used_at = ? where id = ?", [created, lid])
        return self.link(int(link_id))

    def link(self, id_or_token: int | str) -> ShareLink:
        """One share link by id or token."""
        col = "share_links.id" if isinstance(id_or_token, int) else "share_links.token"
        rows = self._links(f"where {col} = ?", [id_or_token])
        if not rows:
            raise NotFound("no such share link")
        return rows[0]

    def links(self) -> list[ShareLink]:
        """Every share link, oldest first."""
        return self._links("", [])

    def revoke(self, id_or_token: int | str, *, at: _dt.datetime | None = None) -> ShareLink:
        """Revoke a link (it stays recorded until retention removes it)."""
        link = self.link(id_or_token)
        if link.revoked_at is None:
            when = _iso(at or _dt.datetime.now(_dt.timezone.utc))
            with self.db.conn:
                self.db.execute("update share_links set revoked_at = ? where id = ?", [when, link.id])
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
        with self.db.conn:
            entry_id = self.db.table("share_access_log").insert(
                {"link_id": link.id, "at": when, "action": action, "allowed": int(allowed), "client": client}
            ).last_pk
        return AccessLogEntry(int(entry_id), link.id, when, action, allowed, client)

    def access_log(self, link_id: int | None = None) -> list[AccessLogEntry]:
        """Access-log entries (of one link, or all), oldest first."""
        where, params = ("where link_id = ?", [link_id]) if link_id is not None else ("", [])
        rows = self.db.execute(
            f"select id, link_id, at, action, allowed, client from share_access_log {where} order by at, id", params
        ).fetchall()
        return [AccessLogEntry(r[0], r[1], r[2], r[3], bool(r[4]), r[5] or "") for r in rows]

    # -- export --------------------------------------------------------------

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
        return sum(
            self.db.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("share_recipients", "share_lists", "share_list_members", "share_links", "share_access_log")
        )

    def _links(self, where: str, params: list[Any]) -> list[ShareLink]:
        rows = self.db.execute(
            "select share_links.id, token, target_kind, target_id, share_recipients.address, share_lists.name, "
            "share_links.created_at, expires_at, revoked_at from share_links "
            "left join share_recipients on share_recipients.id = share_links.recipient_id "
            f"left join share_lists on share_lists.id = share_links.list_id {where} order by share_links.id",
            params,
        ).fetchall()
        return [ShareLink(*r) for r in rows]
