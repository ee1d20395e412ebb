"""The share plugin's own tables (``share_bundle*``), registered through ``register_migrations``.

The core keeps the share *records* (recipients, lists, links with their token
hashes, the access log: ``printmanager_core.store.shares``). This set adds what
an encrypted bundle needs on top: the bundle itself (where it is stored, how
many objects, when it expires, the open limit) and which core link belongs to
which bundle. No secret is stored here: the per-share key exists only in the
links, the sharer's signing and log keys live in the vault.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from printmanager_core.settings import Setting

migrations = Migrations("share")


@migrations()
def m001_share_bundles(db: Database) -> None:
    """Bundles, bundle links (core link id -> bundle), and the plugin's state (public keys, config)."""
    db.table("share_bundles").create(
        {"id": str, "title": str, "target_kind": str, "target_label": str, "created_at": str,
         "expires_at": str, "max_opens": int, "password": int, "file_count": int, "total_size": int,
         "object_count": int, "container": str, "deleted_at": str},
        pk="id", not_null={"created_at"}, if_not_exists=True,
    )  # fmt: skip
    db.table("share_bundle_links").create(
        {"link_id": int, "share_id": str, "token_ref": str, "recipient": str, "revoked_at": str},
        pk="link_id", foreign_keys=[("share_id", "share_bundles", "id")], if_not_exists=True,
    )  # fmt: skip
    db.table("share_bundle_state").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("share_bundle_keys").create({"address": str, "age_recipient": str}, pk="address", if_not_exists=True)


SETTINGS = (
    Setting("share.gateway", "http://127.0.0.1:8765",
            "the address recipients open share links at (printmanager serve, or the standalone gateway)"),
    Setting("share.log_ip", False, "record recipients' full IP address in the access log (default: none)"),
    Setting("share.thumbnails", True, "put the files' thumbnails into shared bundles"),
)  # fmt: skip
