"""The sync plugin's own tables (``sync_*``), registered through ``register_migrations``.

Until plugins owned their schema these came from the core's migration
``m005_sync``. A library that holds sync state keeps its tables: the core's
``m017_sync_tables_to_plugin`` leaves them, and ``m001_sync_tables`` here adopts
them as they are. In a library without sync state the core drops the empty
tables and this set makes them, only where the sync plugin is installed.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from printmanager_core.errors import UsageError
from printmanager_core.settings import Setting

#: hours between full listings of the container while nothing changes (``sync.inventory_hours``)
INVENTORY_HOURS = "sync.inventory_hours"


def _check_hours(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 24 * 365:
        raise UsageError(f"{INVENTORY_HOURS} takes a whole number of hours from 0 (every sync) to 8760, not {value!r}")


SETTINGS = (
    Setting(
        INVENTORY_HOURS,
        24,
        "a sync that finds nothing changed lists the whole container (to put back lost objects) "
        "at most this often, in hours; 0: every sync",
        check=_check_hours,
    ),
)

migrations = Migrations("sync")


@migrations()
def m001_sync_tables(db: Database) -> None:
    """Settings, local file ids, known remote blobs, the upload journal (the layout of core m005)."""
    db.table("sync_state").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("sync_files").create({"path": str, "size": int, "mtime_ns": int, "blob": str}, pk="path",
                                  if_not_exists=True)
    db.table("sync_blobs").create({"id": str, "size": int}, pk="id", if_not_exists=True)
    db.table("sync_uploads").create(
        {"name": str, "upload_id": str, "salt": str, "source": str, "size": int, "mtime_ns": int,
         "part_size": int, "object_size": int, "created_at": str},
        pk="name", if_not_exists=True,
    )  # fmt: skip
    db.table("sync_upload_parts").create(
        {"name": str, "number": int, "etag": str, "size": int},
        pk=("name", "number"),
        foreign_keys=[("name", "sync_uploads", "name")],
        if_not_exists=True,
    )
