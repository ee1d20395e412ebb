"""The mesh the 3D preview draws: any format our readers know, as binary STL, bounded in size.

The browser gets one format (binary STL, read by three.js's ``STLLoader``), whatever
the file is (STL, 3MF, OBJ, PLY, OFF, AMF, glTF...). A mesh above
:data:`MAX_PREVIEW_TRIANGLES` is decimated by vertex clustering (vertices snapped to
a grid, collapsed triangles dropped) until it fits, and the response says so.
"""

from __future__ import annotations

import io
import struct
import threading
from typing import TYPE_CHECKING

import attrs
import numpy as np

from printmanager_core.readers import reader_for
from printmanager_core.readers.base import ReadError, Source

from .errors import WebError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord

#: above this many triangles the preview is a decimated copy of the mesh
MAX_PREVIEW_TRIANGLES = 200_000
#: how many previews are made at once
_PREVIEWS = threading.BoundedSemaphore(2)


@attrs.frozen
class PreviewMesh:
    """A preview: binary STL bytes, how many triangles it has and the source had."""

    stl: bytes
    triangles: int
    source_triangles: int

    @property
    def decimated(self) -> bool:
        """Whether the preview has fewer triangles than the file."""
        return self.triangles < self.source_triangles


def can_preview(file: "FileRecord") -> bool:
    """Whether the file is a mesh a reader can give triangles of."""
    return not file.error and callable(getattr(reader_for(file.name), "triangles", None))


def preview_mesh(library: "Library", file: "FileRecord", *, max_triangles: int | None = None) -> PreviewMesh:
    """The preview mesh of a catalogued file (decimated above ``max_triangles``,
    default :data:`MAX_PREVIEW_TRIANGLES`).

    :raises WebError: the file is no mesh, or cannot be read.
    """
    reader = reader_for(file.name)
    provide = getattr(reader, "triangles", None)
    if not callable(provide):
        raise WebError(f"{file.format or 'this'} file has no mesh to preview")
    with _PREVIEWS:  # a few at a time: a huge mesh takes memory while it is read
        if file.archive_path:
            with library.open_file(file) as fh:
                source = Source.from_bytes(file.name, fh.read(), limits=library.limits)
        else:
            source = Source.from_path(file.path, limits=library.limits)
        try:
            tris = np.asarray(provide(source), dtype=np.float32)
        except ReadError as exc:
            raise WebError(f"cannot read the mesh: {exc}") from None
        tris = tris.reshape(-1, 3, 3)
        source_count = len(tris)
        bound = MAX_PREVIEW_TRIANGLES if max_triangles is None else max_triangles
        if source_count > bound:
            tris = decimate(tris, bound)
        return PreviewMesh(binary_stl(tris), len(tris), source_count)


def decimate(tris: np.ndarray, target: int) -> np.ndarray:
    """Vertex-clustering decimation of ``(n, 3, 3)`` triangles down to at most ``target``.

    Vertices are snapped to a cubic grid over the bounding box; triangles whose
    corners fall in fewer than three cells vanish and duplicates are merged. The
    grid is made coarser until the mesh fits.
    """
    points = tris.reshape(-1, 3)
    low = points.min(axis=0)
    extent = float((points.max(axis=0) - low).max()) or 1.0
    cells = max(8, int(np.sqrt(target / 2)) * 2)
    out = tris
    while cells >= 4:
        step = extent / cells
        keys = np.floor((points - low) / step).astype(np.int64)
        flat = (keys[:, 0] * (cells + 1) + keys[:, 1]) * (cells + 1) + keys[:, 2]
        corner = flat.reshape(-1, 3)
        keep = (corner[:, 0] != corner[:, 1]) & (corner[:, 1] != corner[:, 2]) & (corner[:, 0] != corner[:, 2])
        corner = corner[keep]
        _, first = np.unique(np.sort(corner, axis=1), axis=0, return_index=True)
        centres = low + (keys.reshape(-1, 3, 3)[keep][first] + 0.5) * step
        out = centres.astype(np.float32)
        if len(out) <= target:
            return out
        cells = int(cells * 0.8)
    return out[:target]


def binary_stl(tris: np.ndarray) -> bytes:
    """``(n, 3, 3)`` triangles as a binary STL (normals computed)."""
    tris = np.asarray(tris, dtype=np.float32).reshape(-1, 3, 3)
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    record = np.zeros(len(tris), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    record["n"] = normals
    record["v"] = tris
    buf = io.BytesIO()
    buf.write(b"printmanager preview".ljust(80, b" "))
    buf.write(struct.pack("<I", len(tris)))
    buf.write(record.tobytes())
    return buf.getvalue()
