"""Domain records: what the library API returns. Built from store rows."""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import attrs

from .paths import archive_of, display_path, path_from_store, path_json
from .readers.base import SlicerInfo


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


def _ids(value: Any) -> tuple[int, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(sorted(int(v) for v in value.split("\x1f") if v))
    return tuple(sorted(int(v) for v in value))


def _names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(sorted(set(value.split("\x1f"))))
    return tuple(value)


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


# -- how a file's fields are stored ----------------------------------------------
#
# Every field of FileRecord is declared once, below, with how it is stored
# (``stored(...)``); the store's column lists, ``FileRecord.from_row``, the JSON
# shape and the reader→row mapping of a scan are all derived from these
# declarations (docs/contributing.md, "Adding a catalogue field").


def _plain(value: Any) -> tuple[Any, ...]:
    return (value,)


def _from_plain(value: Any) -> Any:
    return value


def _bool_to_row(value: bool | None) -> tuple[int | None]:
    return (None if value is None else int(value),)


def _bool_from_row(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _json_to_row(value: Any) -> tuple[str | None]:
    return (json.dumps(value, default=str) if value else None,)


def _bbox_to_row(value: tuple[float, float, float] | None) -> tuple[Any, ...]:
    return tuple(value) if value else (None, None, None)


def _bbox_from_row(x: Any, y: Any, z: Any) -> tuple[float, float, float] | None:
    return None if x is None else (x, y, z)


def _slicer_to_row(value: SlicerInfo | None) -> tuple[Any, ...]:
    facts = value or _NO_SLICER
    return tuple(getattr(facts, k) for k in SLICER_FIELDS)


def _slicer_from_row(*values: Any) -> SlicerInfo:
    return _NO_SLICER if values == _NO_FACTS else SlicerInfo(*values)


def _slicer(value: Any) -> SlicerInfo:
    if isinstance(value, SlicerInfo):
        return value
    return SlicerInfo(**dict(value or {}))


SLICER_FIELDS = tuple(f.name for f in attrs.fields(SlicerInfo))
_NO_SLICER = SlicerInfo()
_NO_FACTS = (None,) * len(SLICER_FIELDS)


@attrs.frozen
class Stored:
    """How one :class:`FileRecord` field is kept in the ``files`` table.

    :ivar columns: the field's columns (``bbox_mm`` has three, ``slicer`` six);
        empty for a field computed elsewhere (``path``: see :func:`_exact_file_paths`).
    :ivar to_row: the field's value → its columns' values (a tuple).
    :ivar from_row: the columns' values → the field's value.
    :ivar read: the value comes from the reader: the ``ReadResult`` attribute of
        the field's name is written to the columns by every scan.
    :ivar scanned: the scan writes it for every file it reads (reset when re-read).
    :ivar default: the value when the row has none (NULL).
    """

    columns: tuple[str, ...]
    to_row: Callable[[Any], tuple[Any, ...]] = _plain
    from_row: Callable[..., Any] = _from_plain
    read: bool = False
    scanned: bool = False
    default: Any = None


def stored(
    *columns: str,
    required: bool = False,
    default: Any = None,
    factory: Callable[[], Any] | None = None,
    converter: Callable[[Any], Any] | None = None,
    read: bool = False,
    scanned: bool = False,
    to_row: Callable[[Any], tuple[Any, ...]] = _plain,
    from_row: Callable[..., Any] = _from_plain,
) -> Any:
    """Declare a :class:`FileRecord` field and how it is stored (its ``attrs`` metadata).

    :param columns: the ``files`` columns holding it (a new one needs a migration).
    :param required: the record cannot be made without it (``id``, ``path``, ``name``).
    :param read: the reader supplies it (the ``ReadResult`` attribute of the same name).
    :param scanned: every scan writes it (``read`` implies it).
    """
    kwargs: dict[str, Any] = {"metadata": {"stored": Stored(
        tuple(columns), to_row, from_row, read, scanned or read, factory() if factory else default
    )}}
    if required:
        pass
    elif factory is not None:
        kwargs["factory"] = factory
    else:
        kwargs["default"] = default
    if converter is not None:
        kwargs["converter"] = converter
    return attrs.field(**kwargs)


@attrs.frozen
class FileRecord:
    """One catalogued file. Unknown values are None.

    ``path`` is absolute; a member of a zip archive has the path
    ``<archive path>!/<member path>`` and ``archive_path`` set. ``path``,
    ``name`` and ``archive_path`` are exact: ``os.fsencode(record.path)`` is the
    name on disk, byte for byte, even when it is not valid UTF-8.

    Each field says how it is stored (:func:`stored`); ``from_row``, ``as_json``
    and what a scan writes follow from that.
    """

    id: int = stored("id", required=True)
    path: str = stored(required=True)
    name: str = stored(required=True)
    model_id: int | None = stored("model_id")
    #: the model's name (joined from ``models``)
    model: str | None = stored("model_name")
    root_id: int | None = stored("root_id")
    archive_path: str | None = stored()
    format: str | None = stored("format", read=True)
    size_bytes: int | None = stored("size_bytes", scanned=True)
    mtime_ns: int | None = stored("mtime_ns", scanned=True)
    hash: str | None = stored("hash", scanned=True)
    triangles: int | None = stored("triangles", read=True)
    bbox_mm: tuple[float, float, float] | None = stored(
        "bbox_x", "bbox_y", "bbox_z", read=True, to_row=_bbox_to_row, from_row=_bbox_from_row
    )
    volume_mm3: float | None = stored("volume_mm3", read=True)
    area_mm2: float | None = stored("area_mm2", read=True)
    watertight: bool | None = stored("watertight", read=True, to_row=_bool_to_row, from_row=_bool_from_row)
    thumbnails: int = stored("thumbnails", default=0, read=True)
    #: what a slicer wrote into the file (typed; reads like a dict of the known facts)
    slicer: SlicerInfo = stored(*SLICER_FIELDS, factory=SlicerInfo, converter=_slicer, read=True,
                                to_row=_slicer_to_row, from_row=_slicer_from_row)
    problems: list[str] = stored("problems", factory=list, converter=_json_list, read=True, to_row=_json_to_row)
    meta: dict[str, Any] = stored("meta", factory=dict, converter=_json_dict, read=True, to_row=_json_to_row)
    #: triangles of zero area (docs/problems.md)
    degenerate_triangles: int | None = stored("degenerate_triangles", read=True)
    #: a watertight mesh that is inside out (its normals point inwards)
    inverted: bool | None = stored("inverted", read=True, to_row=_bool_to_row, from_row=_bool_from_row)
    #: the encoding-independent fingerprint of the mesh: the same mesh as ASCII or binary STL, OBJ, 3MF...
    geometry_hash: str | None = stored("geometry_hash", read=True)
    error: str | None = stored("error", scanned=True)
    missing: bool = stored("missing", default=False, from_row=bool)
    #: the kinds of problem the file has, that are not silenced (docs/problems.md)
    problem_kinds: tuple[str, ...] = stored("problem_kinds", default=(), converter=_tags)
    tags: tuple[str, ...] = stored("tags", default=(), converter=_tags)
    #: the tags of the file's model (a query ``tag:x`` matches either)
    model_tags: tuple[str, ...] = stored("model_tags", default=(), converter=_tags)
    notes: str = stored("notes", default="")
    thumbnail: str | None = stored("thumbnail_path")
    added_at: str | None = stored("added_at")
    scanned_at: str | None = stored("scanned_at")
    #: ids of the G-code files sliced from this one (``slice_links``, joined)
    gcodes: tuple[int, ...] = stored("gcode_ids", default=(), converter=_ids)
    #: names of the files this G-code was sliced from (``slice_links``, joined)
    sliced_from: tuple[str, ...] = stored("source_names", default=(), converter=_names)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "FileRecord":
        """Build a record from a ``files`` row (optionally joined with ``model_name``, ``model_tags``)."""
        return _file_from_row(cls, row)

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
        d["slicer"] = self.slicer.as_dict()
        d["tags"] = list(self.tags)
        d["model_tags"] = list(self.model_tags)
        d["problems"] = list(self.problems)
        d["gcodes"] = list(self.gcodes)
        d["sliced_from"] = [display_path(n) for n in self.sliced_from]
        d["problem_kinds"] = list(self.problem_kinds)
        return d


def _stored(field: "attrs.Attribute[Any]") -> Stored:
    return field.metadata["stored"]  # type: ignore[no-any-return]


#: (field name, columns, row → value, default) for every stored field with columns
_FROM_ROW: tuple[tuple[str, tuple[str, ...], Callable[..., Any], Any], ...] = tuple(
    (f.name, _stored(f).columns, _stored(f).from_row, _stored(f).default)
    for f in attrs.fields(FileRecord) if _stored(f).columns
)

#: every column a scan writes for a file it reads, in declaration order
SCANNED_COLUMNS: tuple[str, ...] = tuple(
    c for f in attrs.fields(FileRecord) if _stored(f).scanned for c in _stored(f).columns
)

#: (ReadResult attribute, columns, value → column values) for every field a reader supplies
_FROM_READER: tuple[tuple[str, tuple[str, ...], Callable[[Any], tuple[Any, ...]]], ...] = tuple(
    (f.name, _stored(f).columns, _stored(f).to_row) for f in attrs.fields(FileRecord) if _stored(f).read
)


def _compile_from_row() -> Callable[[type[FileRecord], dict[str, Any]], FileRecord]:
    """``FileRecord.from_row``, written out from the field declarations once.

    A search builds thousands of records, so the loop over the declarations runs
    here, at import, as attrs does for ``__init__``: the function it makes reads
    each column by name and converts only what needs converting.
    """
    namespace: dict[str, Any] = {"_exact_file_paths": _exact_file_paths}
    args = []
    for i, (name, columns, decode, default) in enumerate(_FROM_ROW):
        namespace[f"_decode{i}"], namespace[f"_default{i}"] = decode, default
        if len(columns) == 1:
            value = f"get({columns[0]!r})"
            converted = "v" if decode is _from_plain else f"_decode{i}(v)"
        else:
            value = f"_decode{i}({', '.join(f'get({c!r})' for c in columns)})"
            converted = "v"
        args.append(f"{name}=(_default{i} if (v := {value}) is None else {converted})")
    source = (
        "def from_row(cls, row):\n"
        "    get = row.get\n"
        "    path, name, archive_path = _exact_file_paths(row)\n"
        f"    return cls(path=path, name=name, archive_path=archive_path, {', '.join(args)})\n"
    )
    exec(compile(source, "<FileRecord.from_row>", "exec"), namespace)
    return namespace["from_row"]  # type: ignore[no-any-return]


_file_from_row = _compile_from_row()


def scanned_defaults() -> dict[str, Any]:
    """The columns a scan writes, at their value for "nothing known" (before a read)."""
    row: dict[str, Any] = {}
    for f in attrs.fields(FileRecord):
        meta = _stored(f)
        if meta.scanned:
            row.update(zip(meta.columns, meta.to_row(meta.default)))
    return row


def result_columns(result: Any) -> dict[str, Any]:
    """The ``files`` columns of what a reader found (a ``ReadResult``)."""
    row: dict[str, Any] = {}
    for name, columns, to_row in _FROM_READER:
        row.update(zip(columns, to_row(getattr(result, name))))
    return row


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
    #: the model's title, short caption and description (from 3MF metadata, a sidecar, or the user)
    title: str | None = None
    caption: str | None = None
    description: str | None = None
    collections: tuple[str, ...] = ()
    created_at: str | None = None
    updated_at: str | None = None
    #: when each successful print of the model in the print log was made (UTC ISO), oldest first
    printed_at: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    @property
    def prints(self) -> int:
        """How many successful prints the print log holds for this model."""
        return len(self.printed_at)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ModelRecord":
        """Build a record from a ``models`` row (optionally with ``file_count``, ``collection_names``,
        ``printed_dates``)."""
        cols = row.get("collection_names")
        printed = row.get("printed_dates")
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
            title=row.get("title"),
            caption=row.get("caption"),
            description=row.get("description"),
            tags=row.get("tags"),
            missing=bool(row.get("missing")),
            files=row.get("file_count") or 0,
            collections=tuple(sorted(cols.split("\x1f"))) if cols else (),
            created_at=row.get("created_at"),
            updated_at=row.get("updated_at"),
            printed_at=tuple(sorted(printed.split("\x1f"))) if printed else (),
        )

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape of a model (``models --json``); ``path`` as in
        :meth:`FileRecord.as_json` (display text, ``path_bytes`` when needed)."""
        d = attrs.asdict(self, recurse=False)
        d.update(path_json(self.path))
        d["tags"] = list(self.tags)
        d["collections"] = list(self.collections)
        d["printed_at"] = list(self.printed_at)
        d["prints"] = self.prints
        return d


@attrs.frozen
class RootRecord:
    """A folder added to the library. ``path`` is exact."""

    id: int
    path: str
    added_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """``{"id", "path", "added_at"}`` (plus ``path_bytes`` when the name is not valid UTF-8)."""
        return {"id": self.id, **path_json(self.path), "added_at": self.added_at}


@attrs.frozen
class CollectionRecord:
    """A named group of models: its description and its models' ids (ascending)."""

    id: int
    name: str
    description: str = ""
    models: tuple[int, ...] = attrs.field(default=(), converter=tuple)

    def as_json(self) -> dict[str, Any]:
        """``{"id", "name", "description", "models"}``: the shape ``Library.collections()`` gives."""
        return {"id": self.id, "name": self.name, "description": self.description, "models": list(self.models)}


@attrs.define
class ScanError:
    """A file the scan could not read (or did not catalogue), and why. ``path`` is exact."""

    path: str
    error: str

    def as_json(self) -> dict[str, Any]:
        """``{"path", "error"}`` (plus ``path_bytes`` when the name is not valid UTF-8)."""
        return {**path_json(self.path), "error": self.error}


@attrs.frozen
class ScanOptions:
    """What the caller asked of a scan, passed to plugins' ``scan_finished``."""

    #: False when the user asked for no thumbnails (``scan --no-thumbnails``)
    thumbnails: bool = True
    #: where a plugin working after the scan reports how far it is: ``progress(done, total)``
    #: (the CLI shows it as a phase of the scan's bar); None: nobody watches
    progress: Callable[[int, int], None] | None = attrs.field(default=None, eq=False, repr=False)


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
    #: folders below a root with nothing in them (docs/problems.md, ``empty-folder``)
    empty_folders: list[str] = attrs.field(factory=list)

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


#: what a print-log entry's ``result`` may be
PRINT_RESULTS = ("ok", "failed", "cancelled")


@attrs.frozen
class PrintRecord:
    """One print in the print log: a model (and the file printed, when known) printed once.

    ``source`` is ``manual`` for ``printmanager print log``, or ``<kind>:<printer>``
    for a job pulled from a printer's history (``external_id`` is its job id there).
    """

    id: int
    model_id: int
    printed_at: str
    result: str = attrs.field(default="ok", validator=attrs.validators.in_(PRINT_RESULTS))
    file_id: int | None = None
    printer: str | None = None
    note: str = ""
    duration_s: float | None = None
    source: str = "manual"
    external_id: str | None = None
    job_name: str | None = None
    created_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "PrintRecord":
        """Build a record from a ``prints`` row."""
        return cls(**{f.name: row.get(f.name) for f in attrs.fields(cls) if row.get(f.name) is not None})

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape of a print-log entry (``print history --json``)."""
        return attrs.asdict(self)
