"""The printers plugin's own table (migration set ``printers``), through ``register_migrations``."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("printers")


@migrations()
def m001_printers(db: Database) -> None:
    """One row per printer the user added: its kind, URL, and when they consented to contact it."""
    db.table("printers").create(
        {"name": str, "kind": str, "url": str, "added_at": str, "consented_at": str, "consent_text": str},
        pk="name",
        not_null={"kind", "url", "added_at", "consented_at"},
        if_not_exists=True,
    )
