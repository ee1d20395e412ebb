"""Share records: recipients, distribution lists and their members, share links, access log.

A link's token is never stored: only its SHA-256 (``token_hash``, migration
``m015_hashed_share_tokens``). A token is 144 random bits, so a plain hash is
as good as a slow one here: nobody can guess a token from its hash, and a
stolen database gives no working link. Deleting share records overwrites
them (:func:`~.erase.secure_delete`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
from sqlite_utils import Database

from .erase import secure_delete

#: the share tables, children before parents (the order deletes go in)
SHARE_TABLES = ("share_access_log", "share_list_members", "share_links", "share_lists", "share_recipients")


def token_hash(token: str) -> str:
    """What is stored of a share token: ``"sha256:<hex>"``."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@attrs.frozen
class RecipientRow:
    """A ``share_recipients`` row."""

    id: int
    address: str
    name: str
    created_at: str
    last_used_at: str | None


@attrs.frozen
class ListRow:
    """A ``share_lists`` row and its members' addresses."""

    id: int
    name: str
    members: tuple[str, ...]
    created_at: str
    last_used_at: str | None


@attrs.frozen
class LinkRow:
    """A ``share_links`` row, with the recipient's address and the list's name (or None)."""

    id: int
    target_kind: str
    target_id: int
    recipient: str | None
    distribution_list: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None


@attrs.frozen
class AccessRow:
    """A ``share_access_log`` row."""

    id: int
    link_id: int
    at: str
    action: str
    allowed: bool
    client: str


_LINK_SELECT = (
    "select share_links.id, target_kind, target_id, share_recipients.address, share_lists.name, "
    "share_links.created_at, expires_at, revoked_at from share_links "
    "left join share_recipients on share_recipients.id = share_links.recipient_id "
    "left join share_lists on share_lists.id = share_links.list_id"
)


class SharesGateway:
    """Reads and writes the share tables of one library database."""

    def __init__(self, db: Database):
        self.db = db

    # -- recipients and lists ------------------------------------------------

    def add_recipient(self, address: str, name: str, at: str) -> None:
        """Record a recipient unless its address is known."""
        with self.db.conn:
            self.db.execute(
                "insert or ignore into share_recipients (address, name, created_at) values (?, ?, ?)",
                [address, name, at],
            )

    def recipient(self, address_or_id: str | int) -> RecipientRow | None:
        """One recipient by address (a str) or id (an int)."""
        col = "id" if isinstance(address_or_id, int) else "address"
        row = self.db.execute(
            f"select id, address, name, created_at, last_used_at from share_recipients where {col} = ?",
            [address_or_id],
        ).fetchone()
        return None if row is None else RecipientRow(row[0], row[1], row[2] or "", row[3], row[4])

    def recipients(self) -> list[RecipientRow]:
        """Every recipient, by address."""
        rows = self.db.execute(
            "select id, address, name, created_at, last_used_at from share_recipients order by address"
        ).fetchall()
        return [RecipientRow(r[0], r[1], r[2] or "", r[3], r[4]) for r in rows]

    def add_list(self, name: str, recipient_ids: list[int], at: str) -> None:
        """Create the list ``name`` unless it exists, and add these recipients to it."""
        with self.db.conn:
            self.db.execute("insert or ignore into share_lists (name, created_at) values (?, ?)", [name, at])
            list_id = self.db.execute("select id from share_lists where name = ?", [name]).fetchone()[0]
            for rid in recipient_ids:
                self.db.execute(
                    "insert or ignore into share_list_members (list_id, recipient_id) values (?, ?)", [list_id, rid]
                )

    def distribution_list(self, name: str) -> ListRow | None:
        """One list by name, with its members' addresses in order."""
        row = self.db.execute(
            "select id, name, created_at, last_used_at from share_lists where name = ?", [name]
        ).fetchone()
        if row is None:
            return None
        members = tuple(
            r[0]
            for r in self.db.execute(
                "select share_recipients.address from share_list_members join share_recipients "
                "on share_recipients.id = share_list_members.recipient_id where list_id = ? order by 1",
                [row[0]],
            )
        )
        return ListRow(row[0], row[1], members, row[2], row[3])

    def list_names(self) -> list[str]:
        """Every list's name, in order."""
        return [r[0] for r in self.db.execute("select name from share_lists order by name")]

    # -- links and the access log --------------------------------------------

    def add_link(self, token: str, target_kind: str, target_id: int, recipient_id: int | None,
                 list_id: int | None, created_at: str, expires_at: str | None) -> int:
        """Record a link (its token only as :func:`token_hash`) and mark its recipient/list used; its id."""
        with self.db.conn:
            cur = self.db.execute(
                "insert into share_links (token_hash, target_kind, target_id, recipient_id, list_id, created_at, "
                "expires_at, revoked_at) values (?, ?, ?, ?, ?, ?, ?, null)",
                [token_hash(token), target_kind, target_id, recipient_id, list_id, created_at, expires_at],
            )
            if recipient_id is not None:
                self.db.execute("update share_recipients set last_used_at = ? where id = ?", [created_at, recipient_id])
            if list_id is not None:
                self.db.execute("update share_lists set last_used_at = ? where id = ?", [created_at, list_id])
            return int(cur.lastrowid or 0)

    def link(self, id_or_token: int | str) -> LinkRow | None:
        """One link by id (an int) or by its token (a str, looked up by hash)."""
        if isinstance(id_or_token, int):
            rows = self._links("where share_links.id = ?", [id_or_token])
        else:
            rows = self._links("where share_links.token_hash = ?", [token_hash(id_or_token)])
        return rows[0] if rows else None

    def links(self) -> list[LinkRow]:
        """Every link, oldest first."""
        return self._links("", [])

    def revoke(self, link_id: int, at: str) -> None:
        """Mark a link revoked at ``at``."""
        with self.db.conn:
            self.db.execute("update share_links set revoked_at = ? where id = ?", [at, link_id])

    def log_access(self, link_id: int, at: str, action: str, allowed: bool, client: str) -> int:
        """Append an access-log entry; its id."""
        with self.db.conn:
            cur = self.db.execute(
                "insert into share_access_log (link_id, at, action, allowed, client) values (?, ?, ?, ?, ?)",
                [link_id, at, action, int(allowed), client],
            )
            return int(cur.lastrowid or 0)

    def access_log(self, link_id: int | None = None) -> list[AccessRow]:
        """Entries of one link, or all, oldest first."""
        where, params = ("where link_id = ?", [link_id]) if link_id is not None else ("", [])
        rows = self.db.execute(
            f"select id, link_id, at, action, allowed, client from share_access_log {where} order by at, id", params
        ).fetchall()
        return [AccessRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5] or "") for r in rows]

    # -- all of it -------------------------------------------------------------

    def count(self) -> int:
        """How many share records there are (rows of every share table)."""
        return sum(int(self.db.execute(f"select count(*) from {t}").fetchone()[0]) for t in SHARE_TABLES)

    def clear(self) -> int:
        """Delete every share record, leaving nothing behind; how many rows went."""
        removed = 0
        with secure_delete(self.db):
            for table in SHARE_TABLES:
                removed += int(self.db.execute(f"delete from {table}").rowcount)
        return removed

    def _links(self, where: str, params: list[Any]) -> list[LinkRow]:
        rows = self.db.execute(f"{_LINK_SELECT} {where} order by share_links.id", params).fetchall()
        return [LinkRow(*r) for r in rows]
