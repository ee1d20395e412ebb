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

    def counts(self) -> dict[int, tuple[int, int]]:
        """Root id → (present files, models) for every root."""
        out: dict[int, tuple[int, int]] = {}
        for rid, files in self.db.execute(
            "select root_id, count(*) from files where not missing group by root_id"
        ).fetchall():
            out[int(rid)] = (int(files), 0)
        for rid, models in self.db.execute("select root_id, count(*) from models group by root_id").fetchall():
            out[int(rid)] = (out.get(int(rid), (0, 0))[0], int(models))
        return out

    def remove(self, root_id: int) -> dict[str, int]:
        """Take a root out of the catalogue with everything recorded under it: its files and
        models, their tags, notes, collection memberships, slice links and print log.
        In the caller's transaction. Returns how many files, models and prints went."""
        files_q = "select id from files where root_id = ?"
        models_q = "select id from models where root_id = ?"
        p = [root_id]
        n_files = int(self.db.execute("select count(*) from files where root_id = ?", p).fetchone()[0])
        n_models = int(self.db.execute("select count(*) from models where root_id = ?", p).fetchone()[0])
        n_prints = int(self.db.execute(f"select count(*) from prints where model_id in ({models_q})", p).fetchone()[0])
        self.db.execute(f"delete from file_tags where file_id in ({files_q})", p)
        self.db.execute(f"delete from model_tags where model_id in ({models_q})", p)
        self.db.execute(f"delete from collection_models where model_id in ({models_q})", p)
        self.db.execute(f"delete from slice_links where gcode_id in ({files_q}) or source_id in ({files_q})", p + p)
        self.db.execute(f"delete from prints where model_id in ({models_q})", p)
        self.db.execute(f"update prints set file_id = null where file_id in ({files_q})", p)
        self.db.execute(f"delete from problems where root_id = ? or file_id in ({files_q}) "
                        f"or model_id in ({models_q})", p + p + p)
        self.db.execute("delete from files where root_id = ?", p)
        self.db.execute("delete from models where root_id = ?", p)
        self.db.execute("delete from roots where id = ?", p)
        return {"files": n_files, "models": n_models, "prints": n_prints}
