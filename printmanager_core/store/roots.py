"""The roots gateway: the ``roots`` table (the rules of placing roots: ``printmanager_core.roots``)."""

from __future__ import annotations

from ..paths import path_from_store, stored_path
from ..records import RootRecord
from ..clock import now_iso
from .rows import Rows


class RootsGateway(Rows):
    """The ``roots`` table."""

    def all(self) -> list[RootRecord]:
        """Every root, shortest path first (then by path); paths are exact."""
        rows = [
            RootRecord(int(i), path_from_store(text, exact), added_at)
            for i, text, exact, added_at in self.db.execute("select id, path, path_bytes, added_at from roots")
        ]
        return sorted(rows, key=lambda r: (len(r.path), r.path))

    def insert(self, path: str) -> int:
        """Add a root at ``path`` (exact); returns its id. In the caller's transaction."""
        text, exact = stored_path(path)
        cur = self.db.execute(
            "insert into roots (path, path_bytes, added_at) values (?, ?, ?)", [text, exact, now_iso()]
        )
        return int(cur.lastrowid or 0)

    def delete(self, root_id: int) -> None:
        """Remove a root row (its files and models must have moved). In the caller's transaction."""
        self.db.execute("delete from roots where id = ?", [root_id])
