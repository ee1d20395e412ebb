"""Domain records: what the library API returns. Built from store rows."""

from __future__ import annotations

import json
import os
from typing import Any

import attrs

from .paths import archive_of, display_path, path_from_store, path_json


def _json_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value)


def _json_dict(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value)


def _tags(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(sorted(value.split()))
    return tuple(sorted(value))


def _exact_file_paths(row: dict[str, Any]) -> tuple[str, str, str | None]:
    """(path, name, archive path) of a ``files`` row, exact (see paths.py)."""
    text, name, archive = row["path"], row["name"], row.get("archive_path")
    exact = row.get("path_bytes")
    if exact is None:
        return text, name, archive
    path = path_from_store(text, exact)
    if archive:
        return path, name, archive_of(path, text, archive)
    return path, os.path.basename(path), None


SLICER_FIELDS = ("printer_model", "layer_height_mm", "print_time_s", "filament_g", "filament_mm", "slicer")


@attrs.frozen
class FileRecord:
    """One catalogued file. Unknown values are None.

    ``path`` is absolute; a member of a zip archive has the path
    ``<archive path>!/<member path>`` and ``archive_path`` set. ``path``,
    ``name`` and ``archive_path`` are exact: ``os.fsencode(record.path)`` is the
    name on disk, byte for byte, even when it is not valid UTF-8.
    """

    id: int
    path: str
    name: str
    model_id: int | None = None
    model: str | None = None
    root_id: int | None = None
    archive_path: str | None = None
    format: str | None = None
    size_bytes: int | None = None
    mtime_ns: int | None = None
    hash: str | None = None
    triangles: int | None = None
    bbox_mm: tuple[float, float, float] | None = None
    volume_mm3: float | None = None
    area_mm2: float | None = None
    watertight: bool | None = None
    thumbnails: int = 0
    slicer: dict[str, Any] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list, converter=_json_list)
    meta: dict[str, Any] = attrs.field(factory=dict, converter=_json_dict)
    error: str | None = None
    missing: bool = False
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tags)
    #: the tags of the file's model (a query ``tag:x`` matches either)
    model_tags: tuple[str, ...] = attrs.field(default=(), converter=_tags)
    notes: str = ""
    thumbnail: str | None = None
    added_at: str | None = None
    scanned_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "FileRecord":
        """Build a record from a ``files`` row (optionally joined with ``model_name``)."""
        bbox = None
        if row.get("bbox_x") is not None:
            bbox = (row["bbox_x"], row["bbox_y"], row["bbox_z"])
        slicer = {k: row.get(k) for k in SLICER_FIELDS if row.get(k) is not None}
        wt = row.get("watertight")
        path, name, archive_path = _exact_file_paths(row)
        return cls(
            id=row["id"],
            path=path,
            name=name,
            model_id=row.get("model_id"),
            model=row.get("model_name"),
            root_id=row.get("root_id"),
            archive_path=archive_path,
            format=row.get("format"),
            size_bytes=row.get("size_bytes"),
            mtime_ns=row.get("mtime_ns"),
            hash=row.get("hash"),
            triangles=row.get("triangles"),
            bbox_mm=bbox,
            volume_mm3=row.get("volume_mm3"),
            area_mm2=row.get("area_mm2"),
            watertight=None if wt is None else bool(wt),
            thumbnails=row.get("thumbnails") or 0,
            slicer=slicer,
            problems=row.get("problems"),
            meta=row.get("meta"),
            error=row.get("error"),
            missing=bool(row.get("missing")),
            tags=row.get("tags"),
            model_tags=row.get("model_tags"),
            notes=row.get("notes") or "",
            thumbnail=row.get("thumbnail_path"),
            added_at=row.get("added_at"),
            scanned_at=row.get("scanned_at"),
        )

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape of a file (``ls --json``).

        Valid UTF-8 and lossless: ``path``, ``name`` and ``archive_path`` are
        display text; ``path_bytes`` (base64 of the exact name) is added only
        when the path is not valid UTF-8 (docs/guide.md, "File names").
        """
        d = attrs.asdict(self, recurse=False)
        d.update(path_json(self.path))
        d["name"] = display_path(self.name)
        if self.archive_path is not None:
            d["archive_path"] = display_path(self.archive_path)
        d["bbox_mm"] = list(self.bbox_mm) if self.bbox_mm else None
        d["tags"] = list(self.tags)
        d["model_tags"] = list(self.model_tags)
        d["problems"] = list(self.problems)
        return d


@attrs.frozen
class ModelRecord:
    """One model: a folder of files, an archive, or a lone file. ``path`` is exact."""

    id: int
    path: str
    name: str
    kind: str
    root_id: int | None = None
    creator: str | None = None
    source_url: str | None = None
    licence: str | None = None
    notes: str = ""
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tags)
    missing: bool = False
    files: int = 0
    collections: tuple[str, ...] = ()
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ModelRecord":
        """Build a record from a ``models`` row (optionally with ``file_count``, ``collection_names``)."""
        cols = row.get("collection_names")
        return cls(
            id=row["id"],
            path=path_from_store(row["path"], row.get("path_bytes")),
            name=row["name"],
            kind=row["kind"],
            root_id=row.get("root_id"),
            creator=row.get("creator"),
            source_url=row.get("source_url"),
            licence=row.get("licence"),
            notes=row.get("notes") or "",
            tags=row.get("tags"),
            missing=bool(row.get("missing")),
            files=row.get("file_count") or 0,
            collections=tuple(sorted(cols.split("\x1f"))) if cols else (),
            created_at=row.get("created_at"),
            updated_at=row.get("updated_at"),
        )

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape of a model (``models --json``); ``path`` as in
        :meth:`FileRecord.as_json` (display text, ``path_bytes`` when needed)."""
        d = attrs.asdict(self, recurse=False)
        d.update(path_json(self.path))
        d["tags"] = list(self.tags)
        d["collections"] = list(self.collections)
        return d


@attrs.define
class ScanError:
    """A file the scan could not read (or did not catalogue), and why. ``path`` is exact."""

    path: str
    error: str

    def as_json(self) -> dict[str, Any]:
        """``{"path", "error"}`` (plus ``path_bytes`` when the name is not valid UTF-8)."""
        return {**path_json(self.path), "error": self.error}


@attrs.define
class ScanReport:
    """What a scan did. ``errors`` counts files recorded with an error."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    missing: int = 0
    unchanged: int = 0
    errors: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    error_files: list[ScanError] = attrs.field(factory=list)
    #: what the scan met and did not catalogue, and why ("symlink leaves its root")
    skipped: list[ScanError] = attrs.field(factory=list)
    #: ids of files added, changed or moved by this scan (for plugins)
    changed_ids: list[int] = attrs.field(factory=list)
    #: False when the user asked for no thumbnails during this scan
    thumbnails: bool = True

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (``scan --json``)."""
        return {
            "added": self.added,
            "updated": self.updated,
            "moved": self.moved,
            "missing": self.missing,
            "unchanged": self.unchanged,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "error_files": [e.as_json() for e in self.error_files],
            "skipped": [e.as_json() for e in self.skipped],
        }
