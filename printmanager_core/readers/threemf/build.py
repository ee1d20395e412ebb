"""The 3MF build as placed, and its measures.

What is measured is the **build**: every ``<build><item>`` of the root model
part, with its transform, and for an object made of ``<components>`` every
component with its transform composed onto the item's (recursively, across
model parts when a component or item names another part with the production
extension's ``p:path``). An object placed twice counts twice. Coordinates are
converted from the model's ``unit`` to millimetres. Triangles, area and box are
those of the placed meshes; the volume is the sum of each placed mesh's
absolute volume (None, with an "open mesh" problem, unless the build is
watertight); the build is watertight when every placed mesh object is (see
:mod:`..mesh`). Objects in ``<resources>`` that the build does not place are not
measured. Beams (:mod:`.beams`) are counted, not measured.
"""

from __future__ import annotations

from typing import Any, Iterator

import attrs
import numpy as np

from ..base import Limits, ReadError
from ..mesh import MeshMetrics, is_watertight, measure_indexed
from .beams import prisms
from .model import ModelObject, ModelPart, parse_model
from .package import Package

__all__ = [
    "MAX_DEPTH",
    "MAX_PLACEMENTS",
    "UNITS",
    "ModelParts",
    "build_triangles",
    "measure_build",
    "placed_triangles",
    "placements",
]

#: millimetres per model unit
UNITS = {"micron": 0.001, "millimeter": 1.0, "centimeter": 10.0, "inch": 25.4, "foot": 304.8, "meter": 1000.0}
#: most component nesting followed
MAX_DEPTH = 64
#: most placed objects measured (instancing bombs)
MAX_PLACEMENTS = 100_000


class ModelParts:
    """The model parts of a package, each parsed on first use.

    :param geometry: False to parse without reading the numbers of plainly written
        mesh blocks (enough to follow the build and find object thumbnails).
    """

    def __init__(self, pkg: Package, geometry: bool = True) -> None:
        self.pkg = pkg
        self.geometry = geometry
        self.parsed: dict[str, ModelPart] = {}

    def get(self, part: str) -> ModelPart | None:
        """The parsed model part ``part`` (parsed once), or None if the package has no such part."""
        key = part.lstrip("/").lower()
        if key not in self.parsed:
            if self.pkg.info(key) is None:
                return None
            data = self.pkg.read(key, xml=True)
            self.parsed[key] = parse_model(data, "/" + part.lstrip("/"), self.pkg.problems, self.geometry,
                                           self.pkg.limits)
        return self.parsed[key]


def placements(parts: ModelParts, root: ModelPart) -> Iterator[tuple[ModelObject, np.ndarray]]:
    """Every (mesh object, 4x4 transform) the build places."""
    identity = np.eye(4)
    count = 0
    visits = 0

    def resolve(model: ModelPart, oid: str, path: str | None, where: str) -> ModelObject | None:
        target = model
        if path:
            found = parts.get(path)
            if found is None:
                parts.pkg.note(f"{where} names model part {path}, which does not exist")
                return None
            target = found
        obj = target.objects.get(oid)
        if obj is None:
            parts.pkg.note(f"{where} names object {oid}, which does not exist in {target.part}")
        return obj

    def walk(model: ModelPart, obj: ModelObject, matrix: np.ndarray, stack: tuple[int, ...]) -> Iterator[tuple[ModelObject, np.ndarray]]:
        nonlocal count, visits
        visits += 1
        if visits > 10 * MAX_PLACEMENTS:
            raise ReadError(f"the build's components expand to more than {10 * MAX_PLACEMENTS} placements")
        if id(obj) in stack:
            raise ReadError(f"{model.part}: object {obj.id} contains itself (component cycle)")
        if len(stack) > MAX_DEPTH:
            raise ReadError(f"{model.part}: components nested deeper than {MAX_DEPTH}")
        if obj.vertices is not None or obj.faces is not None or obj.beams:
            count += 1
            if count > MAX_PLACEMENTS:
                raise ReadError(f"the build places more than {MAX_PLACEMENTS} objects")
            yield obj, matrix
        for cid, path, cm in obj.components:
            child_model = parts.get(path) if path else model
            child = resolve(model, cid, path, f"{model.part}: component of object {obj.id}")
            if child is None or child_model is None:
                continue
            yield from walk(child_model, child, matrix if cm is None else matrix @ cm, stack + (id(obj),))

    for oid, path, m in root.items:
        obj = resolve(root, oid, path, f"{root.part}: build item")
        if obj is None:
            continue
        model = parts.get(path) if path else root
        assert model is not None
        if obj.type == "other":
            parts.pkg.note(f"{root.part}: build item places object {oid} of type 'other'")
        yield from walk(model, obj, identity if m is None else m, ())


def placed_triangles(parts: ModelParts, root: ModelPart) -> int:
    """Triangles the build places, counted without expanding it (memoised per object)."""
    memo: dict[int, int] = {}
    busy: set[int] = set()

    def count(model: ModelPart, obj: ModelObject, depth: int) -> int:
        key = id(obj)
        if key in memo:
            return memo[key]
        if key in busy:
            raise ReadError(f"{model.part}: object {obj.id} contains itself (component cycle)")
        if depth > MAX_DEPTH:
            raise ReadError(f"{model.part}: components nested deeper than {MAX_DEPTH}")
        busy.add(key)
        total = 0 if obj.faces is None else len(obj.faces)
        for cid, path, _ in obj.components:
            child_model = parts.get(path) if path else model
            child = None if child_model is None else child_model.objects.get(cid)
            if child is not None and child_model is not None:
                total += count(child_model, child, depth + 1)
        busy.discard(key)
        memo[key] = total
        return total

    total = 0
    for oid, path, _ in root.items:
        model = parts.get(path) if path else root
        obj = None if model is None else model.objects.get(oid)
        if obj is not None and model is not None:
            total += count(model, obj, 0)
    return total


def measure_build(parts: ModelParts, root: ModelPart, limits: Limits) -> tuple[MeshMetrics, dict[str, Any]]:
    """The measures of the build as placed, and ``meta`` (build items, placed objects, beams)."""
    planned = placed_triangles(parts, root)
    if planned > limits.max_triangles:
        raise ReadError(f"the build places {planned} triangles, more than the limit of {limits.max_triangles}")
    scale = UNITS.get(root.unit)
    if scale is None:
        parts.pkg.problems.append(f"{root.part}: unknown unit {root.unit!r}; sizes not computed")
    placed = list(placements(parts, root))
    total = sum(len(o.faces) for o, _ in placed if o.faces is not None)
    if total > limits.max_triangles:
        raise ReadError(f"the build places {total} triangles, more than the limit of {limits.max_triangles}")
    measured: list[MeshMetrics] = []
    beams = 0
    check_tight = limits.watertight_max_triangles is None or total <= limits.watertight_max_triangles
    for obj, matrix in placed:
        beams += obj.beams
        if obj.faces is None or obj.vertices is None or not len(obj.faces):
            continue
        if obj.beam_rows is None and len(obj.vertices) > 3 * len(obj.faces) + 1024:
            # most vertices unused: keep the used ones only (once per object), so
            # placing the object does not transform them all
            used, remapped = np.unique(obj.faces, return_inverse=True)
            obj.vertices = np.ascontiguousarray(obj.vertices[used])
            obj.faces = remapped.reshape(-1, 3)
        if check_tight and not obj.tight_done:
            obj.tight = is_watertight(obj.vertices, obj.faces, limits)
            obj.tight_done = True
        m = matrix if scale in (None, 1.0) else np.diag([scale, scale, scale, 1.0]) @ matrix
        verts = obj.vertices @ m[:3, :3].T + m[:3, 3]
        metrics = measure_indexed(verts, obj.faces, limits, watertight=False)
        if np.linalg.det(m[:3, :3]) < 0:  # a mirroring placement flips the winding back (3MF core spec)
            metrics = attrs.evolve(metrics, negative_parts=1 - metrics.negative_parts)
        measured.append(attrs.evolve(metrics, watertight=obj.tight if check_tight else None))
    combined = MeshMetrics.combine(measured) if measured else MeshMetrics(0, None, None, None, None, False)
    if scale is None:
        combined = MeshMetrics(combined.triangles, None, None, None, None, combined.watertight)
    meta: dict[str, Any] = {"build_items": len(root.items), "placed_objects": len(placed)}
    if beams:
        meta["beams"] = beams
        parts.pkg.problems.append(
            f"the build has a beam lattice ({beams} beams) that is not measured: "
            "volume, area and box cover triangle meshes only"
        )
        if not total:
            combined = MeshMetrics(0, None, None, None, None, None)
    return combined, meta


def build_triangles(parts: ModelParts, root: ModelPart, limits: Limits) -> np.ndarray:
    """The build's triangles as placed (transforms and units applied): ``(n, 3, 3)`` in mm.

    Beams are drawn as square prisms of their radius (:func:`.beams.prisms`).
    """
    planned = placed_triangles(parts, root)
    if planned > limits.max_triangles:
        raise ReadError(f"the build places {planned} triangles, more than the limit of {limits.max_triangles}")
    scale = UNITS.get(root.unit) or 1.0
    out = []
    for obj, matrix in placements(parts, root):
        if obj.vertices is None:
            continue
        m = matrix if scale == 1.0 else np.diag([scale, scale, scale, 1.0]) @ matrix
        placed = obj.vertices @ m[:3, :3].T + m[:3, 3]
        if obj.faces is not None and len(obj.faces):
            out.append(placed[obj.faces])
        if obj.beam_rows is not None and len(obj.beam_rows):
            ends = obj.beam_rows[:, :2].astype(np.int64)
            if ends.min() < 0 or ends.max() >= len(placed):
                raise ReadError(f"object {obj.id} has a beam naming a vertex that does not exist")
            size = float(np.cbrt(abs(np.linalg.det(m[:3, :3])))) or 1.0
            out.append(prisms(placed[ends[:, 0]], placed[ends[:, 1]],
                              obj.beam_rows[:, 2] * size, obj.beam_rows[:, 3] * size))
    return np.concatenate(out) if out else np.zeros((0, 3, 3))
