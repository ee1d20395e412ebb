"""The collections gateway: ``collections`` and ``collection_models``."""

from __future__ import annotations

from typing import Iterable

from ..records import CollectionRecord
from ..clock import now_iso
from .rows import Rows


class CollectionsGateway(Rows):
    """Named groups of models."""

    def all(self) -> list[CollectionRecord]:
        """Every collection with its model ids, by name."""
        members: dict[int, list[int]] = {}
        for cid, mid in self.db.execute(
            "select collection_id, model_id from collection_models order by model_id"
        ).fetchall():
            members.setdefault(cid, []).append(mid)
        return [
            CollectionRecord(cid, name, description or "", tuple(members.get(cid, ())))
            for cid, name, description in self.db.execute(
                "select id, name, description from collections order by name"
            ).fetchall()
        ]

    def id_of(self, name: str) -> int | None:
        """The id of the collection called ``name``, if there is one."""
        row = self.db.execute("select id from collections where name = ?", [name]).fetchone()
        return None if row is None else int(row[0])

    def create(self, name: str, description: str = "") -> int:
        """Create a collection (or return the existing one's id)."""
        with self.db.conn:
            found = self.id_of(name)
            if found is not None:
                return found
            cur = self.db.execute(
                "insert into collections (name, description, created_at) values (?, ?, ?)",
                [name, description, now_iso()],
            )
            return int(cur.lastrowid or 0)

    def add(self, collection_id: int, model_ids: Iterable[int]) -> None:
        """Put models in a collection (those already in it stay once)."""
        with self.db.conn:
            for mid in model_ids:
                self.db.execute(
                    "insert or ignore into collection_models (collection_id, model_id) values (?, ?)",
                    [collection_id, mid],
                )

    def remove(self, collection_id: int, model_ids: Iterable[int]) -> None:
        """Take models out of a collection."""
        with self.db.conn:
            for mid in model_ids:
                self.db.execute(
                    "delete from collection_models where collection_id = ? and model_id = ?", [collection_id, mid]
                )

    def delete(self, collection_id: int) -> None:
        """Delete a collection (its models stay)."""
        with self.db.conn:
            self.db.execute("delete from collection_models where collection_id = ?", [collection_id])
            self.db.execute("delete from collections where id = ?", [collection_id])
