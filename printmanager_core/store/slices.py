"""Sliced ↔ source links (m029): which mesh file a G-code file was sliced from."""

from __future__ import annotations

from typing import Any, Sequence

from ..clock import now_iso
from ..records import FileRecord
from .files import FILE_SELECT
from .rows import Rows

#: the formats a slicer writes (the G-code side of a link)
SLICED_FORMATS = ("gcode", "bgcode", "gcode.3mf")


class SliceLinksGateway(Rows):
    """The ``slice_links`` table."""

    def link(self, gcode_id: int, source_id: int, how: str, *, replace: bool = False) -> bool:
        """Link a G-code file to the file it was sliced from; False when they were linked already
        (``replace``: the link's ``how`` is set anew, and True is returned)."""
        verb = "insert or replace" if replace else "insert or ignore"
        with self.db.conn:
            cur = self.db.execute(
                f"{verb} into slice_links (gcode_id, source_id, how, created_at) values (?, ?, ?, ?)",
                [gcode_id, source_id, how, now_iso()],
            )
        return bool(cur.rowcount)

    def _linked(self, column: str, other: str, file_id: int) -> list[tuple[FileRecord, str]]:
        how = {r[0]: r[1] for r in self.db.execute(
            f"select {other}, how from slice_links where {column} = ?", [file_id])}
        if not how:
            return []
        marks = ", ".join("?" for _ in how)
        rows = self.rows(f"{FILE_SELECT} where files.id in ({marks}) order by files.path", list(how))
        return [(FileRecord.from_row(r), str(how[r["id"]])) for r in rows]

    def sources_of(self, gcode_id: int) -> list[tuple[FileRecord, str]]:
        """The files a G-code file was sliced from, with how each was linked, by path."""
        return self._linked("gcode_id", "source_id", gcode_id)

    def gcodes_of(self, source_id: int) -> list[tuple[FileRecord, str]]:
        """The G-code files sliced from a file, with how each was linked, by path."""
        return self._linked("source_id", "gcode_id", source_id)

    def unlinked_gcodes(self) -> list[FileRecord]:
        """Present G-code files with no link yet (what linking looks at after a scan)."""
        marks = ", ".join("?" for _ in SLICED_FORMATS)
        rows = self.rows(
            f"{FILE_SELECT} where files.missing = 0 and files.format in ({marks}) "
            "and files.id not in (select gcode_id from slice_links) order by files.path", list(SLICED_FORMATS))
        return [FileRecord.from_row(r) for r in rows]

    def candidates(self, root_id: int | None, exclude_formats: Sequence[str] = SLICED_FORMATS) -> list[FileRecord]:
        """Present files of one root that are not G-code: what a G-code may be linked to."""
        marks = ", ".join("?" for _ in exclude_formats)
        rows = self.rows(
            f"{FILE_SELECT} where files.missing = 0 and files.root_id is ? and files.error is null "
            f"and coalesce(files.format, '') not in ({marks}) order by files.path",
            [root_id, *exclude_formats])
        return [FileRecord.from_row(r) for r in rows]

    def model_ids_of(self, file_ids: Sequence[int]) -> set[int]:
        """The models the files ``file_ids`` belong to."""
        out: set[int] = set()
        ids = list(file_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join("?" for _ in chunk)
            out.update(int(r[0]) for r in self.db.execute(
                f"select distinct model_id from files where id in ({marks}) and model_id is not null", chunk))
        return out

    def all(self) -> list[dict[str, Any]]:
        """Every link: ``{"gcode_id", "source_id", "how", "created_at"}`` (the export)."""
        return self.rows("select gcode_id, source_id, how, created_at from slice_links "
                         "order by gcode_id, source_id", [])

    def count(self) -> int:
        """How many links there are."""
        return int(self.db.execute("select count(*) from slice_links").fetchone()[0])
