"""What the thumbnails plugin owns in a library: its settings and the ``thumbnail_path`` slot.

Registered through the core's ``register_settings`` and ``register_migrations``
hooks (docs/plugin_hooks.md):

- settings ``thumbnails.on_scan`` (make thumbnails after a scan, default true) and
  ``thumbnails.size`` (the edge in pixels recorded as a file's thumbnail, 16..2048,
  default 256);
- the migration set ``thumbnails``: ``m001_thumbnail_slot`` adopts the column
  ``files.thumbnail_path`` (libraries made before plugins owned their schema have
  it from the core's first migration; it keeps the PNG path of each file) or adds
  it, and indexes the files still without a thumbnail, which every scan asks for.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from printmanager_core.settings import Setting
from printmanager_core.store.slots import FileSlot

from .sizes import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE

#: the column of ``files`` holding a file's thumbnail (read by ``FileRecord.thumbnail``)
SLOT = "thumbnail_path"
__all__ = ["DEFAULT_SIZE", "MAX_SIZE", "MIN_SIZE", "SETTINGS", "SLOT", "migrations", "slot"]

migrations = Migrations("thumbnails")


@migrations()
def m001_thumbnail_slot(db: Database) -> None:
    """The ``thumbnail_path`` slot (adopted when the library has it), and an index of files without one."""
    column = FileSlot(db, SLOT)
    column.add()
    column.index_empty("thumbnails_missing")


SETTINGS = (
    Setting("thumbnails.on_scan", True, "make thumbnails of new and changed files after each scan"),
    # refused outside MIN_SIZE..MAX_SIZE; one stored before that rule is used as DEFAULT_SIZE with a warning
    Setting("thumbnails.size", DEFAULT_SIZE, f"edge in pixels of the thumbnail a file records ({MIN_SIZE}..{MAX_SIZE})",
            minimum=MIN_SIZE, maximum=MAX_SIZE),
)


def slot(db: Database) -> FileSlot:
    """The ``thumbnail_path`` slot of a library database."""
    return FileSlot(db, SLOT)
