"""Columns of ``files`` that a plugin owns: its "slots".

A plugin that keeps one value per file (the thumbnails plugin: the PNG of a
file) declares the column in its own migration set (``register_migrations``)
and reads and writes it here, by file id, without SQL of its own. The core
reads a slot only where its public record shows it (``FileRecord.thumbnail``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from sqlite_utils import Database

from ..errors import UsageError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class FileSlot:
    """One plugin-owned column of ``files``.

    :param db: the library database.
    :param column: the column's name (lower-case letters, digits, underscores).
    """

    def __init__(self, db: Database, column: str):
        if not _NAME.match(column):
            raise UsageError(f"{column!r} is not a column name")
        self.db = db
        self.column = column

    def exists(self) -> bool:
        """Whether the column is there (its plugin's migration ran)."""
        return self.column in {c[1] for c in self.db.execute("pragma table_info(files)")}

    def add(self) -> bool:
        """Add the column as TEXT unless it exists (for the owning plugin's migration); whether it was added."""
        if self.exists():
            return False
        self.db.execute(f"alter table files add column {self.column} text")
        return True

    def index_empty(self, name: str) -> None:
        """Index the files :meth:`empty_ids` asks for (a partial index: only files whose slot is empty)."""
        if not _NAME.match(name):
            raise UsageError(f"{name!r} is not an index name")
        self.db.execute(
            f"create index if not exists {name} on files (id) "
            f"where {self.column} is null and missing = 0 and error is null"
        )

    def set(self, values: Mapping[int, Any]) -> None:
        """Store ``values`` (file id → value, None to clear) in one transaction."""
        with self.db.conn:
            for file_id, value in values.items():
                self.db.execute(f"update files set {self.column} = ? where id = ?", [value, file_id])

    def empty_ids(self) -> list[int]:
        """Ids of present, readable files (no error) whose slot is empty, in order."""
        rows = self.db.execute(
            f"select id from files where missing = 0 and error is null and {self.column} is null order by id"
        ).fetchall()
        return [int(r[0]) for r in rows]

