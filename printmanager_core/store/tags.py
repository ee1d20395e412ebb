"""The tags gateway: ``tags`` and the ``file_tags`` / ``model_tags`` links."""

from __future__ import annotations

from typing import Literal, Sequence

from .rows import Rows

#: what can carry tags → (link table, its key column)
_LINKS = {"file": ("file_tags", "file_id"), "model": ("model_tags", "model_id")}


class TagsGateway(Rows):
    """Tags of files and models."""

    def counts(self) -> dict[str, int]:
        """Every tag in use and how many files and models carry it, by name."""
        rows = self.db.execute(
            "select tags.name, "
            "(select count(*) from file_tags where tag_id = tags.id) + "
            "(select count(*) from model_tags where tag_id = tags.id) "
            "from tags order by tags.name"
        ).fetchall()
        return {name: count for name, count in rows if count}

    def change(self, kind: Literal["file", "model"], target_id: int, tags: Sequence[str], *, add: bool) -> list[str]:
        """Add (or remove) ``tags`` on one file or model; returns its tags now, by name.

        Runs in the caller's transaction.
        """
        link, key = _LINKS[kind]
        for tag in tags:
            if add:
                self.db.execute("insert or ignore into tags (name) values (?)", [tag])
                tag_id = self.db.execute("select id from tags where name = ?", [tag]).fetchone()[0]
                self.db.execute(f"insert or ignore into {link} ({key}, tag_id) values (?, ?)", [target_id, tag_id])
            else:
                self.db.execute(
                    f"delete from {link} where {key} = ? and tag_id = (select id from tags where name = ?)",
                    [target_id, tag],
                )
        return [r[0] for r in self.db.execute(
            f"select tags.name from {link} join tags on tags.id = {link}.tag_id where {key} = ? order by tags.name",
            [target_id],
        )]
