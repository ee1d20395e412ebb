"""What the privacy export reads of the catalogue beyond the Library API: roots, every model id, tags."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database


class CatalogueExportGateway:
    """Reads the catalogue tables for ``catalogue/*.json`` of an export."""

    def __init__(self, db: Database):
        self.db = db

    def roots(self) -> list[dict[str, Any]]:
        """Every root: ``{"id", "path", "added_at"}``, by id."""
        return [{"id": r[0], "path": r[1], "added_at": r[2]}
                for r in self.db.execute("select id, path, added_at from roots order by id")]

    def model_ids(self) -> list[int]:
        """Every model's id (models without files too), in order."""
        return [int(r[0]) for r in self.db.execute("select id from models order by id")]

    def tags(self) -> list[dict[str, Any]]:
        """Every tag: ``{"name", "files": [ids], "models": [ids]}``, by name."""
        out = []
        for tag_id, name in self.db.execute("select id, name from tags order by name").fetchall():
            files = [r[0] for r in self.db.execute(
                "select file_id from file_tags where tag_id = ? order by file_id", [tag_id])]
            models = [r[0] for r in self.db.execute(
                "select model_id from model_tags where tag_id = ? order by model_id", [tag_id])]
            out.append({"name": name, "files": files, "models": models})
        return out
