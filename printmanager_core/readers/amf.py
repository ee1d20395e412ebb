"""AMF (Additive Manufacturing File Format, ISO/ASTM 52915) reader: plain XML or zipped.

What is measured: every ``<object>``'s ``<mesh>``, each ``<volume>`` (a closed
region of the object, e.g. one material) as a part of its own over the mesh's
shared ``<vertices>``, converted from the document's ``unit`` to millimetres.
Triangles, area and box add up over the volumes of all objects; the volume is
the sum of the volumes' enclosed volumes, and the file is watertight when every
volume is (otherwise the volume is unknown and an "open mesh" problem is noted).
``<constellation>`` instances (objects placed again with offsets and rotations)
are counted in ``meta['constellations']`` and noted as not applied: figures are
of each object once. Curved-triangle ``<edge>`` data, colours, materials,
textures and texture maps are ignored.

A zipped AMF (how PrusaSlicer and others write ``.amf``) is a zip archive holding
one ``.amf`` document; it goes through the same zip-bomb checks as 3MF
packages (:mod:`.ziputil`). The XML is parsed by :mod:`.xmlsafe`: linear time,
bounded token sizes, no entity declarations. Memory holds only the open
elements and the arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..hookspecs import hookimpl
from . import xmlsafe, ziputil
from .base import Limits, NotThisFormat, ReadError, ReadResult, Source
from .mesh import MeshMetrics, check_faces, measure_indexed, read_all
from .rows import Rows
from .xmlsafe import local_name

__all__ = ["AmfReader"]

#: millimetres per unit (the ``unit`` attribute of ``<amf>``)
UNITS = {"millimeter": 1.0, "millimetre": 1.0, "inch": 25.4, "feet": 304.8, "foot": 304.8, "meter": 1000.0,
         "metre": 1000.0, "micron": 0.001, "micrometer": 0.001}
MAX_META_TEXT = 500


def _document(source: Source) -> tuple[bytes, bool]:
    """The AMF XML of ``source`` and whether it came out of a zip archive."""
    with source.open() as fh:
        head = fh.read(4)
    if head.startswith(b"PK\x03\x04"):
        with ziputil.open_zip(source) as zf:
            members = [i for i in ziputil.safe_members(zf, source.limits) if not i.is_dir()]
            documents = [i for i in members if i.filename.lower().endswith(".amf")] or members
            if not documents:
                raise ReadError("zipped AMF archive is empty")
            return ziputil.read_member(zf, documents[0], source.limits, xml=True), True
    data = read_all(source)
    start = data.lstrip()[:512]
    if not start.startswith(b"<"):
        if not start:
            raise ReadError("empty file")
        raise NotThisFormat("not an AMF file: neither XML nor a zip archive")
    return data, False


def parse_amf(data: bytes, limits: Limits) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any], list[str]]:
    """Every volume as (vertices in file units, faces), plus meta and problems.

    :raises ReadError: malformed XML or AMF, a triangle naming a vertex that does not exist.
    """
    part = "AMF document"
    volumes: list[tuple[np.ndarray, np.ndarray]] = []
    meta: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    stack: list[Any] = []
    root = None
    objects = constellations = instances = 0
    vertex_rows: Rows | None = None
    triangle_rows: Rows | None = None
    vertices: np.ndarray | None = None
    coords: dict[str, str | None] = {}
    corners: dict[str, str | None] = {}
    mesh_volumes: list[np.ndarray] = []
    vertex_error = "AMF: a vertex has a missing or bad coordinate"
    triangle_error = "AMF: a triangle has a missing or bad vertex index"
    for event, elem in xmlsafe.iter_events(data, part, limits.max_xml_token_bytes):
        tag = local_name(elem.tag)
        if event == "start":
            if root is None:
                root = elem
                if tag != "amf":
                    raise NotThisFormat(f"not an AMF document: the root element is <{tag[:40]}>, not <amf>")
            stack.append(elem)
            if tag == "vertices":
                vertex_rows = Rows(np.float64, vertex_error)
            elif tag == "volume":
                triangle_rows = Rows(np.int64, triangle_error)
            elif tag == "coordinates":
                coords = {}
            elif tag == "triangle":
                corners = {}
            continue
        stack.pop()
        parent = stack[-1] if stack else None
        ptag = local_name(parent.tag) if parent is not None else ""
        if tag in ("x", "y", "z") and ptag == "coordinates":
            coords[tag] = (elem.text or "").strip()
        elif tag == "coordinates" and vertex_rows is not None:
            vertex_rows.add((coords.get("x"), coords.get("y"), coords.get("z")))
        elif tag in ("v1", "v2", "v3") and ptag == "triangle":
            corners[tag] = (elem.text or "").strip()
        elif tag == "triangle" and triangle_rows is not None:
            triangle_rows.add((corners.get("v1"), corners.get("v2"), corners.get("v3")))
        elif tag == "vertices" and vertex_rows is not None:
            vertices = vertex_rows.array()
            vertex_rows = None
        elif tag == "volume" and triangle_rows is not None:
            mesh_volumes.append(triangle_rows.array())
            triangle_rows = None
        elif tag == "mesh":
            verts = vertices if vertices is not None else np.empty((0, 3))
            for faces in mesh_volumes:
                check_faces(faces, len(verts))
                volumes.append((verts, faces))
            vertices = None
            mesh_volumes = []
        elif tag == "object":
            objects += 1
        elif tag == "instance":
            instances += 1
        elif tag == "constellation":
            constellations += 1
        elif tag == "metadata" and ptag in ("amf", "object") and elem.get("type"):
            key = str(elem.get("type"))[:100]
            metadata.setdefault(key, (elem.text or "").strip()[:MAX_META_TEXT])
        if parent is not None and len(parent) and parent[-1] is elem:
            del parent[-1]  # handled: memory holds only the open elements
    if root is None:
        raise ReadError("empty AMF document")
    unit = (root.get("unit") or "millimeter").strip().lower()
    meta.update({"unit": unit, "objects": objects, "volumes": len(volumes)})
    if metadata:
        meta["metadata"] = metadata
    problems: list[str] = []
    if constellations:
        meta["constellations"] = constellations
        problems.append(
            f"the AMF places objects in {constellations} constellation(s) ({instances} instances), which are "
            "not applied: figures are of each object once"
        )
    return volumes, meta, problems


class AmfReader:
    """AMF files, plain XML or zipped."""

    name = "amf"
    extensions = (".amf",)

    def _read(self, source: Source) -> tuple[list[tuple[np.ndarray, np.ndarray]], float | None, dict[str, Any], list[str]]:
        data, zipped = _document(source)
        volumes, meta, problems = parse_amf(data, source.limits)
        del data
        if zipped:
            meta["compressed"] = True
        total = sum(len(f) for _, f in volumes)
        if total > source.limits.max_triangles:
            raise ReadError(f"the AMF has {total} triangles, more than the limit of {source.limits.max_triangles}")
        scale = UNITS.get(meta["unit"])
        if scale is None:
            problems.append(f"unknown AMF unit {meta['unit']!r}; sizes not computed")
        return volumes, scale, meta, problems

    def read(self, source: Source) -> ReadResult:
        """Triangles, box, volume, area and watertightness of every object's volumes."""
        volumes, scale, meta, problems = self._read(source)
        parts = []
        for verts, faces in volumes:
            if len(faces):
                parts.append(measure_indexed(verts * (scale or 1.0), faces, source.limits))
        metrics = MeshMetrics.combine(parts) if parts else MeshMetrics(0, None, None, None, None, False)
        if scale is None:
            metrics = MeshMetrics(metrics.triangles, None, None, None, None, metrics.watertight)
        if not metrics.triangles:
            problems.append("the AMF has no triangles")
        return ReadResult(format=self.name, problems=problems + metrics.problems(), meta=meta, **metrics.fields())

    def triangles(self, source: Source) -> np.ndarray:
        """The triangles as an ``(n, 3, 3)`` array in millimetres (for drawing)."""
        volumes, scale, _, _ = self._read(source)
        parts = [verts[faces] * (scale or 1.0) for verts, faces in volumes if len(faces)]
        return np.concatenate(parts) if parts else np.zeros((0, 3, 3))


@hookimpl
def register_readers(register: Any) -> None:
    """The AMF reader."""
    register(AmfReader())
