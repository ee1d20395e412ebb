"""Problems: what is wrong with a file, a model or a folder, as records (docs/problems.md).

A scan computes them from what the readers measured (``watertight``,
``inverted``, ``degenerate_triangles``, ``geometry_hash``, the reader's notes,
the error) and from the catalogue around a file (its duplicates, its model's
licence and pictures, the source of a sliced file); they are kept in the
``problems`` table (:mod:`printmanager_core.store.problems`) and refreshed after
every scan by :mod:`printmanager_core.problems_refresh`: a file's own problems only
for the files the scan read, the ones that depend on other files (duplicates,
sources, models) only where the changes since the last refresh can alter them,
written only where they changed.

Each kind has a severity the user can set or silence with the setting
``problems.severity.<kind>`` (``error``, ``warning``, ``info`` or ``off``); a
silenced kind is still computed, but ``has:problem``, ``problem:KIND`` and the
``problems`` command leave it out.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import attrs

from .paths import display_path
from .store.problems import ProblemRow

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store

#: the severities, most severe first; ``off`` silences a kind
SEVERITIES = ("error", "warning", "info", "off")


@attrs.frozen
class Kind:
    """One kind of problem.

    :ivar name: the kind, as in ``problem:NAME`` and ``problems.severity.NAME``.
    :ivar severity: its default severity.
    :ivar about: ``"file"``, ``"model"`` or ``"folder"``: what a problem of it is about.
    :ivar title: one line for people.
    """

    name: str
    severity: str
    about: str
    title: str


#: every kind of problem, in the order ``problems`` lists them
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("unreadable", "error", "file", "the file could not be read"),
    Kind("open-mesh", "warning", "file", "the mesh is not watertight: it has holes or loose edges"),
    Kind("inverted-normals", "warning", "file", "the mesh is inside out: its normals point inwards"),
    Kind("degenerate-triangles", "info", "file", "the mesh has triangles of zero area"),
    Kind("inefficient-format", "info", "file", "ASCII STL: the same mesh as binary STL or 3MF is far smaller"),
    Kind("reader-note", "info", "file", "the reader noted something odd about the file"),
    Kind("duplicate", "warning", "file", "another file holds the same content or the same mesh"),
    Kind("near-duplicate", "info", "file", "another mesh has the same shape to within 0.1%"),
    Kind("missing-source", "warning", "file", "a sliced file whose source model is not in the library"),
    Kind("missing-licence", "info", "model", "the model has no licence"),
    Kind("missing-picture", "info", "model", "the model has no picture (no image file, no embedded thumbnail)"),
    Kind("empty-folder", "info", "folder", "a folder with nothing in it"),
    Kind("sidecar-unreadable", "warning", "model",
         "the model's datapackage.json cannot be used (unreadable, too big, not JSON or the wrong shape): skipped"),
)}

#: other spellings accepted in ``problem:`` / ``kind:`` and settings
ALIASES = {"missing-license": "missing-licence", "inverted": "inverted-normals", "degenerate": "degenerate-triangles",
           "ascii-stl": "inefficient-format", "empty": "empty-folder", "unreadable-file": "unreadable",
           "bad-sidecar": "sidecar-unreadable", "sidecar": "sidecar-unreadable"}

#: kinds computed from one file alone (refreshed for the files a scan read)
FILE_KINDS = ("unreadable", "open-mesh", "inverted-normals", "degenerate-triangles", "inefficient-format",
              "reader-note")
#: kinds that depend on other files (refreshed over the catalogue)
CROSS_KINDS = ("duplicate", "near-duplicate", "missing-source")
MODEL_KINDS = ("missing-licence", "missing-picture")
#: kinds a scan's sidecar step records (sidecars.import_all), replaced on every scan
SIDECAR_KINDS = ("sidecar-unreadable",)

#: the settings key of a kind's severity
SEVERITY_PREFIX = "problems.severity."

MESH_FORMATS = ("stl", "3mf", "obj", "ply", "amf", "off", "glb", "gltf", "step")
SLICED_FORMATS = ("gcode", "bgcode", "gcode.3mf")
IMAGE_FORMATS = ("png", "jpg", "jpeg", "webp", "gif")

#: near-duplicates: box sides and area within this fraction of each other
NEAR = 0.001
#: the reader's note for an open mesh (readers.mesh.OPEN_MESH starts with it)
_OPEN_MESH_NOTE = "open mesh:"


def kind_name(text: str) -> str | None:
    """The kind ``text`` names (case-insensitive, aliases allowed), or None."""
    key = text.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    return key if key in KINDS else None


def severity_defaults() -> dict[str, str]:
    """``problems.severity.<kind>`` → its default, for every kind (the settings' defaults)."""
    return {SEVERITY_PREFIX + k.name: k.severity for k in KINDS.values()}


@attrs.frozen
class Problem:
    """One problem, as ``problems`` and ``Library.problems()`` give it."""

    kind: str
    severity: str
    path: str
    detail: str = ""
    file_id: int | None = None
    model_id: int | None = None
    other_id: int | None = None
    found_at: str | None = None

    @property
    def about(self) -> str:
        """``"file"``, ``"model"`` or ``"folder"``."""
        return KINDS[self.kind].about if self.kind in KINDS else "file"

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (``problems --json``)."""
        return {"kind": self.kind, "severity": self.severity, "about": self.about, "path": display_path(self.path),
                "detail": self.detail, "file_id": self.file_id, "model_id": self.model_id,
                "other_id": self.other_id, "found_at": self.found_at}


# -- what a file's own facts say -------------------------------------------------------


def _json(value: Any, empty: Any) -> Any:
    if not value:
        return empty
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return empty


def file_problems(row: dict[str, Any]) -> list[ProblemRow]:
    """The problems a file's own facts show (``ProblemsGateway.file_facts`` rows)."""
    base = {"file_id": row["id"], "model_id": row["model_id"], "root_id": row["root_id"], "path": row["path"]}
    found: list[ProblemRow] = []
    if row["error"]:
        found.append(ProblemRow("unreadable", detail=str(row["error"]).split("\n", 1)[0][:300], **base))
        return found
    triangles = row["triangles"] or 0
    if triangles and row["watertight"] == 0:
        found.append(ProblemRow("open-mesh", detail=f"{triangles:,} triangle{'' if triangles == 1 else 's'}, not watertight", **base))
    if row["inverted"]:
        found.append(ProblemRow("inverted-normals", detail="signed volume is negative", **base))
    degenerate = row["degenerate_triangles"] or 0
    if degenerate:
        found.append(ProblemRow("degenerate-triangles", detail=f"{degenerate:,} of {triangles:,} triangles", **base))
    meta = _json(row["meta"], {})
    if row["format"] == "stl" and isinstance(meta, dict) and meta.get("encoding") == "ascii":
        size = row["size_bytes"] or 0
        binary = 84 + 50 * triangles
        detail = f"{size:,} bytes; {binary:,} as binary STL" if triangles else "ASCII STL"
        found.append(ProblemRow("inefficient-format", detail=detail, **base))
    notes = [n for n in _json(row["problems"], []) if isinstance(n, str) and not n.startswith(_OPEN_MESH_NOTE)]
    if notes:
        extra = f" (+{len(notes) - 1} more)" if len(notes) > 1 else ""
        found.append(ProblemRow("reader-note", detail=notes[0][:300] + extra, **base))
    return found


# -- what the catalogue around a file says ------------------------------------------------


def encoding_of(row: dict[str, Any]) -> str:
    """How a file is encoded, as a duplicate's detail names it (``binary STL``, ``3MF``)."""
    fmt = (row.get("format") or "?").upper()
    meta = _json(row.get("meta"), {})
    if isinstance(meta, dict) and meta.get("encoding"):
        return f"{meta['encoding']} {fmt}"
    return fmt


def duplicates(store: "Store") -> list[ProblemRow]:
    """``duplicate``: files with the same content as another, or the same mesh in another encoding.

    The first file of a group (by path) is the original; every other one is a
    duplicate of it. Empty files are never duplicates.
    """
    found: list[ProblemRow] = []
    same_content: dict[int, int] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    encodings: dict[tuple[Any, Any], str] = {}  # (format, meta) -> _encoding: many files share one

    def encoding(row: dict[str, Any]) -> str:
        key = (row.get("format"), row.get("meta"))
        text = encodings.get(key)
        if text is None:
            text = encodings[key] = encoding_of(row)
        return text

    for r in store.problems.same_content():
        groups.setdefault(r["key"], []).append(r)
    for rows in groups.values():
        first = rows[0]
        for r in rows[1:]:
            same_content[r["id"]] = first["id"]
            found.append(ProblemRow("duplicate", path=r["path"], file_id=r["id"], other_id=first["id"],
                                    detail=f"same content as {display_path(first['path'])}"))
    groups = {}
    for r in store.problems.same_geometry():
        groups.setdefault(r["key"], []).append(r)
    for rows in groups.values():
        first = rows[0]
        first_path, first_encoding = display_path(first["path"]), encoding(first)
        for r in rows[1:]:
            if r["id"] in same_content or r["hash"] == first["hash"]:
                continue  # already a byte-for-byte duplicate
            found.append(ProblemRow(
                "duplicate", path=r["path"], file_id=r["id"], other_id=first["id"],
                detail=f"same mesh as {first_path} ({encoding(r)} / {first_encoding})",
            ))
    return found


def in_content_group(row: dict[str, Any]) -> bool:
    """Whether a file takes part in same-content duplicates (present, not empty, hashed)."""
    return not row.get("missing") and (row["size_bytes"] or 0) > 0 and row["hash"] is not None


def duplicate_of(row: dict[str, Any], first_content: dict[str, Any] | None,
                 first_geometry: dict[str, Any] | None) -> ProblemRow | None:
    """The ``duplicate`` problem of one present file, given the first file (by path, then
    id) of its same-content group and of its same-geometry group (None when it is in
    none): the same row :func:`duplicates` gives it."""
    if first_content is not None and first_content["id"] != row["id"]:
        return ProblemRow("duplicate", path=row["path"], file_id=row["id"], other_id=first_content["id"],
                          detail=f"same content as {display_path(first_content['path'])}")
    if first_geometry is None or first_geometry["id"] == row["id"] or row["hash"] == first_geometry["hash"]:
        return None
    return ProblemRow("duplicate", path=row["path"], file_id=row["id"], other_id=first_geometry["id"],
                      detail=f"same mesh as {display_path(first_geometry['path'])} "
                             f"({encoding_of(row)} / {encoding_of(first_geometry)})")


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    return abs(a - b) <= NEAR * max(abs(a), abs(b), 1e-9)


def near_duplicates(store: "Store", measures: Sequence[dict[str, Any]] | None = None) -> list[ProblemRow]:
    """``near-duplicate``: meshes with the same triangle count whose box sides and
    area agree to within :data:`NEAR`, but whose fingerprints differ (a re-export,
    a mesh written with fewer digits, a moved copy).

    :param measures: the meshes to compare (whole triangle-count groups, as
        ``ProblemsGateway.mesh_measures`` gives them); every mesh when None.
    """
    found: list[ProblemRow] = []
    by_count: dict[int, list[dict[str, Any]]] = {}
    for r in store.problems.mesh_measures() if measures is None else measures:
        by_count.setdefault(r["triangles"], []).append(r)
    for rows in by_count.values():
        if len(rows) < 2:
            continue
        claimed: set[int] = set()
        # An unclaimed mesh with the very same fingerprint and measures as one already
        # compared finds nothing new (the earlier one claimed every later match): skip it,
        # so a library of many copies of one part costs one pass, not one per pair.
        compared: set[tuple[Any, ...]] = set()
        for i, a in enumerate(rows):
            if a["id"] in claimed:
                continue
            sides_a = sorted((a["bbox_x"], a["bbox_y"], a["bbox_z"]))
            if a["geometry_hash"]:
                key = (a["geometry_hash"], *sides_a, a["area_mm2"])
                if key in compared:
                    continue
                compared.add(key)
            for b in rows[i + 1:]:
                if b["id"] in claimed or (a["geometry_hash"] and a["geometry_hash"] == b["geometry_hash"]):
                    continue
                sides_b = sorted((b["bbox_x"], b["bbox_y"], b["bbox_z"]))
                if all(_close(x, y) for x, y in zip(sides_a, sides_b)) and _close(a["area_mm2"], b["area_mm2"]):
                    claimed.add(b["id"])
                    found.append(ProblemRow("near-duplicate", path=b["path"], file_id=b["id"], other_id=a["id"],
                                            detail=f"same shape as {display_path(a['path'])} to within 0.1%"))
    return found


def _stem(name: str) -> str:
    lower = name.lower()
    for ext in (".gcode.3mf", ".bgcode", ".gcode", ".stl", ".3mf", ".obj", ".ply", ".amf", ".off", ".glb",
                ".gltf", ".step", ".stp"):
        if lower.endswith(ext):
            return lower[: -len(ext)]
    return os.path.splitext(lower)[0]


def missing_sources(store: "Store") -> list[ProblemRow]:
    """``missing-source``: sliced files with no mesh in their model and none in the
    library whose name the sliced file's name starts with (slicers name their
    output after the model: ``benchy_0.2mm_PLA.gcode`` from ``benchy.stl``)."""
    sliced = store.problems.sliced_files(SLICED_FORMATS)
    if not sliced:
        return []  # nothing sliced: no need to look at every mesh
    meshes = store.problems.mesh_names(MESH_FORMATS)
    models_with_mesh = {m["model_id"] for m in meshes}
    stems = {_stem(m["name"]) for m in meshes}
    found: list[ProblemRow] = []
    for r in sliced:
        if r["model_id"] in models_with_mesh:
            continue
        stem = _stem(r["name"])
        if any(s and stem.startswith(s) for s in stems):
            continue
        found.append(ProblemRow("missing-source", path=r["path"], file_id=r["id"], model_id=r["model_id"],
                                root_id=r["root_id"], detail="no mesh in its model or named like it"))
    return found


def model_problems(store: "Store", ids: Sequence[int] | None = None) -> list[ProblemRow]:
    """``missing-licence`` and ``missing-picture`` of every present model (of models ``ids``, when given)."""
    found: list[ProblemRow] = []
    for m in store.problems.model_facts(IMAGE_FORMATS, ids):
        base = {"model_id": m["id"], "root_id": m["root_id"], "path": m["path"]}
        if not (m["licence"] or "").strip():
            found.append(ProblemRow("missing-licence", detail=f"model {m['name']!r} has no licence", **base))
        if not m["pictures"]:
            found.append(ProblemRow("missing-picture", detail=f"model {m['name']!r} has no image or thumbnail",
                                    **base))
    return found


# -- keeping them current ------------------------------------------------------------------


def silenced(values: dict[str, Any]) -> list[str]:
    """The kinds whose severity is ``off`` in ``values`` (a settings dict)."""
    return sorted(k for k in KINDS if values.get(SEVERITY_PREFIX + k, KINDS[k].severity) == "off")


def listed(rows: Iterable[ProblemRow], severities: dict[str, str]) -> list[Problem]:
    """Stored rows as :class:`Problem` records with their severity, silenced ones left out,
    most severe first (then by path and kind)."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    out = []
    for r in rows:
        severity = severities.get(r.kind, KINDS[r.kind].severity if r.kind in KINDS else "info")
        if severity == "off":
            continue
        out.append(Problem(r.kind, severity, r.path, r.detail, r.file_id, r.model_id, r.other_id, r.found_at))
    out.sort(key=lambda p: (order.get(p.severity, 9), p.path, p.kind))
    return out
