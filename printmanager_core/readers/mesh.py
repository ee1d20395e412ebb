"""Mesh metrics from triangles: count, bounding box, volume, area, watertightness.

Every mesh reader hands its triangles here, either as a triangle soup (an
``(n, 3, 3)`` array: n triangles x 3 corners x xyz) or indexed (a ``(m, 3)``
vertex array and an ``(n, 3)`` face array of vertex indices). Units are the
file's, taken to be millimetres.

Definitions (these are what the catalogue shows):

- **triangles** — the number of triangles (polygons count after fan
  triangulation, as the reader delivers them).
- **bbox_mm** — the x, y and z extents of the corners the triangles use
  (unused vertices do not count).
- **volume_mm3** — the absolute value of the sum of the signed volumes of the
  tetrahedra (origin, a, b, c) over all triangles (divergence theorem). It is
  the enclosed volume for a closed, consistently wound mesh; for a mesh that
  is not watertight it is still this sum, which then depends on where the
  origin is.
- **area_mm2** — the sum of the triangles' areas.
- **watertight** — after merging vertices whose coordinates are bit-identical
  (``-0.0`` counts as ``0.0``; no tolerance), every undirected edge is used by
  exactly two triangles, and there is at least one triangle. Above
  ``Limits.watertight_max_triangles`` triangles it is not computed and is
  ``None`` (unknown), never guessed. Winding consistency is not part of it.

Implementation: coordinates are copied once into per-coordinate contiguous
float64 arrays and the cross products are written out per component, which is
about ten times faster than ``np.cross`` over strided ``(n, 3)`` views.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .base import DEFAULT_LIMITS, Limits, ReadError, Source

__all__ = [
    "MeshMetrics",
    "read_all",
    "is_watertight",
    "measure_indexed",
    "measure_triangles",
    "metrics_from_indexed",
    "metrics_from_triangles",
]


@attrs.frozen
class MeshMetrics:
    """Measurements of one mesh (or of several, see :meth:`combine`).

    :ivar triangles: triangle count.
    :ivar bbox_min: smallest x, y, z of the triangles' corners (None if no triangle).
    :ivar bbox_max: largest x, y, z (None if no triangle).
    :ivar signed_volume_mm3: the signed-tetrahedron sum (None if no triangle).
    :ivar area_mm2: total triangle area (None if no triangle).
    :ivar watertight: see the module docstring; None when not computed.
    """

    triangles: int
    bbox_min: tuple[float, float, float] | None
    bbox_max: tuple[float, float, float] | None
    signed_volume_mm3: float | None
    area_mm2: float | None
    watertight: bool | None

    @property
    def bbox_mm(self) -> tuple[float, float, float] | None:
        """The x, y, z extents, or None without triangles."""
        if self.bbox_min is None or self.bbox_max is None:
            return None
        return (
            self.bbox_max[0] - self.bbox_min[0],
            self.bbox_max[1] - self.bbox_min[1],
            self.bbox_max[2] - self.bbox_min[2],
        )

    @property
    def volume_mm3(self) -> float | None:
        """The absolute value of the signed volume."""
        return None if self.signed_volume_mm3 is None else abs(self.signed_volume_mm3)

    def fields(self) -> dict[str, Any]:
        """The :class:`~.base.ReadResult` fields: triangles, bbox_mm, volume_mm3, area_mm2, watertight."""
        return {
            "triangles": self.triangles,
            "bbox_mm": self.bbox_mm,
            "volume_mm3": self.volume_mm3,
            "area_mm2": self.area_mm2,
            "watertight": self.watertight,
        }

    @classmethod
    def combine(cls, parts: list["MeshMetrics"]) -> "MeshMetrics":
        """Metrics of several separate meshes taken together (e.g. a 3MF build).

        Triangles and areas add up, boxes join; the volume is the sum of each
        part's absolute volume (so a mirrored part does not subtract); it is
        watertight when every part is (None if any part is unknown and none is
        False).
        """
        with_tris = [p for p in parts if p.triangles]
        total = sum(p.triangles for p in parts)
        if not with_tris:
            return cls(total, None, None, None, None, False)
        lo = tuple(min(p.bbox_min[i] for p in with_tris) for i in range(3))  # type: ignore[index]
        hi = tuple(max(p.bbox_max[i] for p in with_tris) for i in range(3))  # type: ignore[index]
        flags = [p.watertight for p in with_tris]
        watertight: bool | None
        if any(f is False for f in flags):
            watertight = False
        elif any(f is None for f in flags):
            watertight = None
        else:
            watertight = True
        return cls(
            triangles=total,
            bbox_min=lo,  # type: ignore[arg-type]
            bbox_max=hi,  # type: ignore[arg-type]
            signed_volume_mm3=float(sum(abs(p.signed_volume_mm3 or 0.0) for p in with_tris)),
            area_mm2=float(sum(p.area_mm2 or 0.0 for p in with_tris)),
            watertight=watertight,
        )


def read_all(source: Source) -> bytes:
    """The whole content of ``source``, refusing more than ``limits.max_read_bytes``.

    Reads at most the declared size + 1 bytes (never allocating the limit up front),
    and refuses content that turns out longer than the limit.
    """
    limit = source.limits.max_read_bytes
    if source.size > limit:
        raise ReadError(f"file is {source.size} bytes, more than the {limit}-byte limit")
    with source.open() as fh:
        data = fh.read(source.size + 1)
        if len(data) > source.size:  # the size was stale: read on in chunks, still bounded
            parts = [data]
            total = len(data)
            while total <= limit:
                chunk = fh.read(min(1024 * 1024, limit + 1 - total))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
            data = b"".join(parts)
    if len(data) > limit:
        raise ReadError(f"file is larger than the {limit}-byte limit")
    return data


def _empty() -> MeshMetrics:
    return MeshMetrics(0, None, None, None, None, False)


def _measure_corners(
    x0: np.ndarray, y0: np.ndarray, z0: np.ndarray,
    x1: np.ndarray, y1: np.ndarray, z1: np.ndarray,
    x2: np.ndarray, y2: np.ndarray, z2: np.ndarray,
) -> tuple[tuple[float, float, float], tuple[float, float, float], float, float]:
    """bbox min/max, signed volume and area from contiguous float64 corner arrays."""
    lo = []
    hi = []
    for a, b, c in ((x0, x1, x2), (y0, y1, y2), (z0, z1, z2)):
        # np.min / np.max propagate NaN (Python's min() would skip it)
        lo.append(float(np.min((a.min(), b.min(), c.min()))))
        hi.append(float(np.max((a.max(), b.max(), c.max()))))
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ReadError("the mesh has vertex coordinates that are not finite numbers (NaN or infinity)")
    # signed volume: sum of v0 . (v1 x v2) / 6
    cx = y1 * z2
    cx -= z1 * y2
    cy = z1 * x2
    cy -= x1 * z2
    cz = x1 * y2
    cz -= y1 * x2
    six_volume = float(np.dot(x0, cx) + np.dot(y0, cy) + np.dot(z0, cz))
    # area: |(v1 - v0) x (v2 - v0)| / 2
    ax = x1 - x0
    ay = y1 - y0
    az = z1 - z0
    bx = x2 - x0
    by = y2 - y0
    bz = z2 - z0
    nx = ay * bz
    nx -= az * by
    ny = az * bx
    ny -= ax * bz
    nz = ax * by
    nz -= ay * bx
    nx *= nx
    ny *= ny
    nz *= nz
    nx += ny
    nx += nz
    np.sqrt(nx, out=nx)
    area = float(nx.sum()) / 2.0
    return (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]), six_volume / 6.0, area


def _check_count(n: int, limits: Limits) -> None:
    if n > limits.max_triangles:
        raise ReadError(f"the mesh has {n} triangles, more than the limit of {limits.max_triangles}")


def measure_triangles(
    triangles: np.ndarray, limits: Limits = DEFAULT_LIMITS, watertight: bool = True
) -> MeshMetrics:
    """Measure a triangle soup.

    :param triangles: ``(n, 3, 3)`` array (or anything reshapeable to it), any float dtype.
    :param watertight: compute watertightness (skip it when the caller does not need it).
    :raises ReadError: non-finite coordinates, or more triangles than ``limits.max_triangles``.
    """
    tris = np.asarray(triangles)
    if tris.size == 0:
        return _empty()
    tris = tris.reshape(-1, 3, 3)
    n = len(tris)
    _check_count(n, limits)
    # one copy into (9, n): row k holds coordinate k % 3 of corner k // 3, contiguous
    cols = np.empty((9, n), dtype=np.float64)
    cols[...] = tris.reshape(n, 9).T
    lo, hi, volume, area = _measure_corners(*cols)
    tight = _watertight_soup(tris, limits) if watertight else None
    return MeshMetrics(n, lo, hi, volume, area, tight)


def measure_indexed(
    vertices: np.ndarray, faces: np.ndarray, limits: Limits = DEFAULT_LIMITS, watertight: bool = True
) -> MeshMetrics:
    """Measure an indexed mesh.

    :param vertices: ``(m, 3)`` coordinates.
    :param faces: ``(n, 3)`` vertex indices (already validated as in range, see
        :func:`check_faces`).
    :raises ReadError: non-finite coordinates, an index out of range, or more
        triangles than ``limits.max_triangles``.
    """
    verts = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces).reshape(-1, 3)
    n = len(f)
    if n == 0:
        return _empty()
    _check_count(n, limits)
    check_faces(f, len(verts))
    x = np.ascontiguousarray(verts[:, 0])
    y = np.ascontiguousarray(verts[:, 1])
    z = np.ascontiguousarray(verts[:, 2])
    i0 = np.ascontiguousarray(f[:, 0])
    i1 = np.ascontiguousarray(f[:, 1])
    i2 = np.ascontiguousarray(f[:, 2])
    lo, hi, volume, area = _measure_corners(x[i0], y[i0], z[i0], x[i1], y[i1], z[i1], x[i2], y[i2], z[i2])
    tight = is_watertight(verts, f, limits) if watertight else None
    return MeshMetrics(n, lo, hi, volume, area, tight)


def check_faces(faces: np.ndarray, vertex_count: int) -> None:
    """Refuse face indices outside ``0 .. vertex_count - 1``.

    :raises ReadError: an index is out of range.
    """
    if faces.size == 0:
        return
    low = int(faces.min())
    high = int(faces.max())
    if low < 0 or high >= vertex_count:
        bad = low if low < 0 else high
        raise ReadError(f"a face refers to vertex {bad}, but the mesh has {vertex_count} vertices")


def metrics_from_triangles(
    triangles: np.ndarray, limits: Limits = DEFAULT_LIMITS, watertight: bool = True
) -> dict[str, Any]:
    """:func:`measure_triangles` as ReadResult fields (``ReadResult(format=..., **fields)``)."""
    return measure_triangles(triangles, limits, watertight).fields()


def metrics_from_indexed(
    vertices: np.ndarray, faces: np.ndarray, limits: Limits = DEFAULT_LIMITS, watertight: bool = True
) -> dict[str, Any]:
    """:func:`measure_indexed` as ReadResult fields (``ReadResult(format=..., **fields)``)."""
    return measure_indexed(vertices, faces, limits, watertight).fields()


# --- watertightness -------------------------------------------------------


def _vertex_ids(coords: np.ndarray) -> np.ndarray:
    """An id per row of ``coords`` (m, 3): equal ids for bit-identical rows (-0.0 == 0.0)."""
    c = np.asarray(coords)
    if c.dtype == np.float32:
        bits = np.ascontiguousarray(c + np.float32(0.0)).view(np.uint32).astype(np.uint64)
        keys = ((bits[:, 0] << np.uint64(32)) | bits[:, 1], bits[:, 2])
    else:
        bits = np.ascontiguousarray(c.astype(np.float64, copy=False) + 0.0).view(np.uint64)
        keys = (bits[:, 0], bits[:, 1], bits[:, 2])
    order = np.lexsort(keys[::-1])  # lexsort sorts by the last key first
    new = np.zeros(len(order), dtype=bool)
    new[0] = True
    for k in keys:
        s = k[order]
        new[1:] |= s[1:] != s[:-1]
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def _edges_twice(ids: np.ndarray) -> bool:
    """True when every undirected edge of the (n, 3) id triangles occurs exactly twice."""
    f = ids.reshape(-1, 3)
    if len(f) == 0:
        return False
    a = np.concatenate((f[:, 0], f[:, 1], f[:, 2]))
    b = np.concatenate((f[:, 1], f[:, 2], f[:, 0]))
    span = np.int64(int(ids.max()) + 1)
    keys = np.minimum(a, b) * span + np.maximum(a, b)
    keys.sort()
    if len(keys) % 2:
        return False
    firsts = keys[0::2]
    seconds = keys[1::2]
    if not np.array_equal(firsts, seconds):
        return False
    return bool(np.all(seconds[:-1] != firsts[1:]))


def _watertight_soup(tris: np.ndarray, limits: Limits) -> bool | None:
    if len(tris) > limits.watertight_max_triangles:
        return None
    return _edges_twice(_vertex_ids(tris.reshape(-1, 3)))


def is_watertight(vertices: np.ndarray, faces: np.ndarray, limits: Limits = DEFAULT_LIMITS) -> bool | None:
    """Watertightness of an indexed mesh (definition in the module docstring).

    :returns: None when the mesh has more than ``limits.watertight_max_triangles`` triangles.
    """
    f = np.asarray(faces).reshape(-1, 3)
    if len(f) > limits.watertight_max_triangles:
        return None
    if len(f) == 0:
        return False
    verts = np.asarray(vertices).reshape(-1, 3)
    if len(verts) <= 3 * len(f):
        return _edges_twice(_vertex_ids(verts)[f])
    used = np.unique(f)  # many unused vertices: merge only the ones the faces use
    merged = np.zeros(len(verts), dtype=np.int64)
    merged[used] = _vertex_ids(verts[used])
    return _edges_twice(merged[f])
