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
from typing import Any, Iterator

import numpy as np

from .. import budget
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


#: the file is parsed in pieces of about this many bytes (whole lines), so the Python
#: objects of one piece are all that exist at once: memory stays a small multiple of the file
_PIECE_BYTES = 4 * 1024 * 1024


def _pieces(data: bytes) -> Iterator[tuple[int, int]]:
    n = len(data)
    pos = 0
    while pos < n:
        cut = data.find(b"\n", min(pos + _PIECE_BYTES, n))
        cut = n if cut < 0 else cut + 1
        yield pos, cut
        pos = cut


def parse_obj(data: bytes) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Vertices ``(m, 3)``, triangles ``(n, 3)`` (0-based), meta and problems of an OBJ file.

    :raises ReadError: a malformed vertex or face, an index out of range, or no faces.
    """
    problems: list[str] = []
    vertex_parts: list[np.ndarray] = []
    face_parts: list[np.ndarray] = []
    nv = 0
    faces_seen = short = 0
    objects = groups = 0
    for a, b in _pieces(data):
        coords: list[bytes] = []
        face_rests: list[bytes] = []
        face_vertex_counts: list[int] = []
        for x, y, z, bad_v, face, og in _LINE.findall(data, a, b):
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
        if coords:
            try:
                values = np.fromstring(b" ".join(coords), dtype=np.float64, sep=" ")
            except ValueError:
                raise ReadError("an OBJ vertex coordinate is not a number") from None
            if values.size != 3 * len(coords):
                raise ReadError("an OBJ vertex coordinate is not a number")
            vertex_parts.append(values.reshape(-1, 3))
        del coords
        if face_rests:
            faces_seen += len(face_rests)
            tris, skipped = _triangulate(face_rests, face_vertex_counts)
            short += skipped
            face_parts.append(tris)
        budget.check()
    meta: dict[str, Any] = {"vertices": nv, "objects": objects, "groups": groups}
    if not faces_seen:
        raise ReadError("the OBJ has no faces")
    vertices = np.concatenate(vertex_parts) if vertex_parts else np.empty((0, 3))
    faces = np.concatenate(face_parts) if face_parts else np.empty((0, 3), np.int64)
    if len(faces) and int(faces.max()) >= nv:
        raise ReadError(f"an OBJ face refers to vertex {int(faces.max()) + 1}, but the file defines {nv} vertices")
    if short:
        problems.append(f"{short} OBJ faces with fewer than 3 corners were skipped")
    meta["faces"] = faces_seen
    if len(faces) == 0:
        raise ReadError("the OBJ has no faces with three or more corners")
    return vertices, faces, meta, problems


def _triangulate(face_rests: list[bytes], face_vertex_counts: list[int]) -> tuple[np.ndarray, int]:
    """Fan-triangulated 0-based corners of faces (their corner text and the vertex count
    defined before each), and how many faces had fewer than 3 corners.

    Positive indices are checked against the whole file's vertices by the caller;
    a negative index that reaches before the first vertex is refused here.
    """
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
    bad = absolute < 0
    if bad.any():
        first = int(np.argmax(bad))
        raise ReadError(f"an OBJ face refers to vertex {int(idx[first])}, but only {int(defined[first])} "
                        "vertices are defined before it")
    short = counts < 3
    tri_per_face = np.where(short, 0, counts - 2)
    total = int(tri_per_face.sum())
    offsets = np.cumsum(counts) - counts
    face_of_tri = np.repeat(np.arange(len(counts)), tri_per_face)
    first_tri = np.cumsum(tri_per_face) - tri_per_face
    step = np.arange(total, dtype=np.int64) - first_tri[face_of_tri] + 1
    a = offsets[face_of_tri]
    faces = np.stack((absolute[a], absolute[a + step], absolute[a + step + 1]), axis=1)
    return faces, int(short.sum())


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
