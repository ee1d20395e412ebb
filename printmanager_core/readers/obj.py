"""Wavefront OBJ reader: ``v`` and ``f`` lines, every object and group together.

Face corners may be written ``v``, ``v/vt``, ``v/vt/vn`` or ``v//vn``; only the
vertex index is used. Negative indices count back from the last vertex defined
before the face. Polygons are fan-triangulated (``a b c d`` becomes ``a b c``
and ``a c d``), so the triangle count is that of the triangulated mesh. Faces
with fewer than three corners are skipped and reported as a problem. Lines,
points, texture coordinates, normals and materials are ignored.

Parsing is one regular-expression pass plus numpy; no per-token Python loop.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..hookspecs import hookimpl
from .base import Limits, ReadError
from .mesh import IndexedMeshReader

__all__ = ["ObjReader", "parse_obj"]

_LINE = re.compile(
    rb"^[ \t]*(?:"
    rb"v[ \t]+([^\s#]+)[ \t]+([^\s#]+)[ \t]+([^\s#]+)"  # 1-3: a vertex (extra values ignored)
    rb"|(v)(?=[ \t\r\n#]|$)"  # 4: a vertex line without three coordinates
    rb"|f(?:[ \t]+([^\r\n#]*)|(?=[\r\n#]|$))"  # 5: a face's corners
    rb"|([og])(?=[ \t\r\n#]|$)"  # 6: object / group
    rb")",
    re.M,
)
_AFTER_SLASH = re.compile(rb"/\S*")


def parse_obj(data: bytes) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Vertices ``(m, 3)``, triangles ``(n, 3)`` (0-based), meta and problems of an OBJ file.

    :raises ReadError: a malformed vertex or face, an index out of range, or no faces.
    """
    rows = _LINE.findall(data)
    problems: list[str] = []
    coords: list[bytes] = []
    face_rests: list[bytes] = []
    face_vertex_counts: list[int] = []
    nv = 0
    objects = groups = 0
    for x, y, z, bad_v, face, og in rows:
        if x:
            coords.append(b" ".join((x, y, z)))
            nv += 1
        elif bad_v:
            raise ReadError(f"malformed OBJ vertex line (vertex {nv + 1}): it needs x, y and z")
        elif og:
            if og == b"o":
                objects += 1
            else:
                groups += 1
        else:
            face_rests.append(face)
            face_vertex_counts.append(nv)
    meta: dict[str, Any] = {"vertices": nv, "objects": objects, "groups": groups}
    if not face_rests:
        raise ReadError("the OBJ has no faces")
    try:
        vertices = np.fromstring(b" ".join(coords), dtype=np.float64, sep=" ") if coords else np.empty(0)
    except ValueError:
        raise ReadError("an OBJ vertex coordinate is not a number") from None
    if vertices.size != 3 * nv:
        raise ReadError("an OBJ vertex coordinate is not a number")
    vertices = vertices.reshape(-1, 3)

    counts = np.fromiter((len(r.split()) for r in face_rests), dtype=np.int64, count=len(face_rests))
    text = _AFTER_SLASH.sub(b"", b"\n".join(face_rests))
    try:
        idx = np.fromstring(text, dtype=np.int64, sep=" ") if counts.sum() else np.empty(0, np.int64)
    except ValueError:
        raise ReadError("an OBJ face has a corner that is not a vertex index") from None
    if idx.size != counts.sum():
        raise ReadError("an OBJ face has a corner that is not a vertex index")
    if (idx == 0).any():
        raise ReadError("an OBJ face refers to vertex 0; OBJ vertex numbers start at 1")
    defined = np.repeat(np.asarray(face_vertex_counts, dtype=np.int64), counts)
    absolute = np.where(idx < 0, defined + idx, idx - 1)  # 0-based
    bad = (absolute < 0) | (absolute >= nv)
    if bad.any():
        first = int(np.argmax(bad))
        raise ReadError(f"an OBJ face refers to vertex {int(idx[first])}, but the file defines {nv} vertices")

    short = counts < 3
    if short.any():
        problems.append(f"{int(short.sum())} OBJ faces with fewer than 3 corners were skipped")
    tri_per_face = np.where(short, 0, counts - 2)
    total = int(tri_per_face.sum())
    offsets = np.cumsum(counts) - counts
    face_of_tri = np.repeat(np.arange(len(counts)), tri_per_face)
    first_tri = np.cumsum(tri_per_face) - tri_per_face
    step = np.arange(total, dtype=np.int64) - first_tri[face_of_tri] + 1
    a = offsets[face_of_tri]
    faces = np.stack((absolute[a], absolute[a + step], absolute[a + step + 1]), axis=1)
    meta["faces"] = len(counts)
    if total == 0:
        raise ReadError("the OBJ has no faces with three or more corners")
    return vertices, faces, meta, problems


class ObjReader(IndexedMeshReader):
    """Wavefront OBJ meshes."""

    name = "obj"
    extensions = (".obj",)

    def parse(self, data: bytes, limits: Limits) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
        """Vertices, triangulated faces, metadata and problems of OBJ bytes."""
        return parse_obj(data)


@hookimpl
def register_readers(register: Any) -> None:
    """The OBJ reader."""
    register(ObjReader())
