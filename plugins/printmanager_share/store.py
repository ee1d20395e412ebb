"""SQL of the share plugin's own tables (``share_bundle*``, :mod:`.schema`); nothing else here."""

from __future__ import annotations

import json
from typing import Any

import attrs
from sqlite_utils import Database

from printmanager_core.store.erase import secure_delete

#: the plugin's tables, children before parents
TABLES = ("share_bundle_links", "share_bundles", "share_bundle_keys", "share_bundle_state")


@attrs.frozen
class BundleRow:
    """A ``share_bundles`` row."""

    id: str
    title: str
    target_kind: str
    target_label: str
    created_at: str
    expires_at: str | None
    max_opens: int | None
    password: bool
    file_count: int
    total_size: int
    object_count: int
    container: dict[str, Any]
    deleted_at: str | None


@attrs.frozen
class BundleLinkRow:
    """A ``share_bundle_links`` row: a core share link and the bundle it opens."""

    link_id: int
    share_id: str
    token_ref: str
    recipient: str
    revoked_at: str | None


_BUNDLE_COLS = ("id, title, target_kind, target_label, created_at, expires_at, max_opens, password, file_count, "
                "total_size, object_count, container, deleted_at")


def _bundle(row: Any) -> BundleRow:
    return BundleRow(row[0], row[1] or "", row[2] or "", row[3] or "", row[4], row[5], row[6], bool(row[7]),
                     int(row[8] or 0), int(row[9] or 0), int(row[10] or 0), json.loads(row[11] or "{}"), row[12])


class ShareStore:
    """Reads and writes the share plugin's tables of one library database."""

    def __init__(self, db: Database):
        self.db = db

    # -- state (public keys, configuration) ---------------------------------

    def get(self, key: str) -> Any:
        """A state value (JSON-decoded), or None."""
        row = self.db.execute("select value from share_bundle_state where key = ?", [key]).fetchone()
        return None if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        """Store a state value (JSON)."""
        with self.db.conn:
            self.db.execute("insert into share_bundle_state (key, value) values (?, ?) "
                            "on conflict(key) do update set value = excluded.value", [key, json.dumps(value)])

    # -- recipients' age keys ---------------------------------------------------

    def set_recipient_key(self, address: str, age_recipient: str) -> None:
        """Remember a recipient's age public key."""
        with self.db.conn:
            self.db.execute("insert into share_bundle_keys (address, age_recipient) values (?, ?) "
                            "on conflict(address) do update set age_recipient = excluded.age_recipient",
                            [address, age_recipient])

    def recipient_key(self, address: str) -> str | None:
        """A recipient's age public key, if known."""
        row = self.db.execute("select age_recipient from share_bundle_keys where address = ?", [address]).fetchone()
        return None if row is None else str(row[0])

    def recipient_keys(self) -> dict[str, str]:
        """Every known recipient key, by address."""
        return {r[0]: r[1] for r in self.db.execute("select address, age_recipient from share_bundle_keys")}

    # -- bundles and their links ----------------------------------------------

    def add_bundle(self, row: BundleRow, links: list[BundleLinkRow]) -> None:
        """Record a stored bundle and its links, in one transaction."""
        with self.db.conn:
            self.db.execute(
                f"insert into share_bundles ({_BUNDLE_COLS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [row.id, row.title, row.target_kind, row.target_label, row.created_at, row.expires_at, row.max_opens,
                 int(row.password), row.file_count, row.total_size, row.object_count, json.dumps(row.container),
                 row.deleted_at],
            )
            for link in links:
                self.db.execute(
                    "insert into share_bundle_links (link_id, share_id, token_ref, recipient, revoked_at) "
                    "values (?, ?, ?, ?, ?)",
                    [link.link_id, link.share_id, link.token_ref, link.recipient, link.revoked_at],
                )

    def bundle(self, share_id: str) -> BundleRow | None:
        """One bundle by id."""
        row = self.db.execute(f"select {_BUNDLE_COLS} from share_bundles where id = ?", [share_id]).fetchone()
        return None if row is None else _bundle(row)

    def bundle_ids_like(self, prefix: str) -> list[str]:
        """Bundle ids starting with ``prefix``."""
        return [r[0] for r in self.db.execute("select id from share_bundles where id like ? order by id",
                                              [prefix.replace("%", "").replace("_", "") + "%"])]

    def bundles(self) -> list[BundleRow]:
        """Every bundle, oldest first."""
        return [_bundle(r) for r in self.db.execute(f"select {_BUNDLE_COLS} from share_bundles order by created_at, id")]

    def expired_bundles(self, at: str) -> list[BundleRow]:
        """Bundles still stored whose expiry is at or before ``at``."""
        rows = self.db.execute(
            f"select {_BUNDLE_COLS} from share_bundles where deleted_at is null and expires_at is not null "
            "and expires_at <= ? order by expires_at", [at],
        )
        return [_bundle(r) for r in rows]

    def mark_deleted(self, share_id: str, at: str) -> None:
        """The bundle's objects are gone from the container."""
        with self.db.conn:
            self.db.execute("update share_bundles set deleted_at = ? where id = ?", [at, share_id])
            self.db.execute("update share_bundle_links set revoked_at = coalesce(revoked_at, ?) where share_id = ?",
                            [at, share_id])

    def links(self, share_id: str | None = None) -> list[BundleLinkRow]:
        """The links of one bundle (or all), by link id."""
        where, params = ("where share_id = ?", [share_id]) if share_id else ("", [])
        rows = self.db.execute(
            f"select link_id, share_id, token_ref, recipient, revoked_at from share_bundle_links {where} "
            "order by link_id", params,
        )
        return [BundleLinkRow(r[0], r[1], r[2], r[3] or "", r[4]) for r in rows]

    def link_by_ref(self, token_ref: str) -> BundleLinkRow | None:
        """The link whose token hashes to ``token_ref``."""
        row = self.db.execute(
            "select link_id, share_id, token_ref, recipient, revoked_at from share_bundle_links where token_ref = ?",
            [token_ref],
        ).fetchone()
        return None if row is None else BundleLinkRow(row[0], row[1], row[2], row[3] or "", row[4])

    def revoke_link(self, link_id: int, at: str) -> None:
        """Mark one bundle link revoked."""
        with self.db.conn:
            self.db.execute("update share_bundle_links set revoked_at = ? where link_id = ? and revoked_at is null",
                            [at, link_id])

    def forget_bundle(self, share_id: str) -> int:
        """Delete a bundle's rows (overwritten); how many went."""
        with secure_delete(self.db):
            n = int(self.db.execute("delete from share_bundle_links where share_id = ?", [share_id]).rowcount)
            n += int(self.db.execute("delete from share_bundles where id = ?", [share_id]).rowcount)
        return n

    def as_json(self) -> dict[str, Any]:
        """Every row of the plugin's tables but the state (for the privacy export)."""
        return {
            "bundles": [attrs.asdict(b) for b in self.bundles()],
            "links": [attrs.asdict(link) for link in self.links()],
            "recipient_keys": self.recipient_keys(),
        }

    def clear(self) -> int:
        """Delete every row of the plugin's tables (overwritten); how many went."""
        removed = 0
        with secure_delete(self.db):
            for table in TABLES:
                removed += int(self.db.execute(f"delete from {table}").rowcount)
        return removed
