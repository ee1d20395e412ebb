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
- **volume_mm3** — the enclosed volume of a watertight mesh: the absolute
  value of the sum of the signed volumes of the tetrahedra (origin, a, b, c)
  over all triangles (divergence theorem). A mesh that is not watertight
  encloses no volume: its ``volume_mm3`` is None (unknown), and the readers
  note an "open mesh" problem (:data:`OPEN_MESH`).
- **area_mm2** — the sum of the triangles' areas.
- **watertight** — after merging vertices whose coordinates are bit-identical
  (``-0.0`` counts as ``0.0``; no tolerance), every undirected edge is used by
  exactly two triangles, and there is at least one triangle. It is computed
  for every mesh (``Limits.watertight_max_triangles`` is None, unlimited, by
  default; a number there skips the check above it and reports ``None``).
  Winding consistency is not part of it.
- **degenerate_triangles** — triangles whose area is zero (to within 1e-12 of
  the square of the mesh's largest extent): repeated or collinear corners.
- **inverted** — a watertight mesh whose signed volume is negative: its
  triangles wind clockwise seen from outside, so its normals point inwards
  (inside out). None when the mesh is not watertight (no inside to speak of).
- **geometry_hash** — a fingerprint of the triangles that does not depend on
  the encoding: every coordinate is rounded to float32 (the precision of
  binary STL; ``-0.0`` counts as ``0.0``), each triangle is hashed from its
  three directed edges (so which corner comes first does not matter, the
  winding does), and the triangles' hashes are summed modulo 2**64, as they
  are and once more mixed (so their order does not matter). The same mesh
  as binary STL, ASCII STL (written with float32's 9 significant digits),
  OBJ or a 3MF object gets the same hash; no triangles, no hash.

Implementation: coordinates are copied once into per-coordinate contiguous float64
arrays, cross products written out per component (ten times faster than ``np.cross``
on strided views) in cache-sized blocks; the sums run over whole arrays (rounding
independent of the block size; :mod:`.mesh_stream` rebuilds them from pieces).
Watertightness is computed by :mod:`.watertight`.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .base import DEFAULT_LIMITS, Limits, ReadError, ReadResult, Source
from .fingerprint import MASK as _MASK, fingerprint, fingerprint_indexed
from .watertight import is_watertight, watertight_soup

__all__ = [
    "OPEN_MESH",
    "MeshMetrics",
    "read_all",
    "is_watertight",
    "measure_indexed",
    "measure_triangles",
    "metrics_from_indexed",
    "metrics_from_triangles",
]


#: the problem noted for a mesh that is not watertight (its volume is unknown)
OPEN_MESH = "open mesh: not watertight, so it encloses no volume (volume unknown)"


@attrs.frozen
class MeshMetrics:
    """Measurements of one mesh (or of several, see :meth:`combine`).

    :ivar triangles: triangle count.
    :ivar bbox_min: smallest x, y, z of the triangles' corners (None if no triangle).
    :ivar bbox_max: largest x, y, z (None if no triangle).
    :ivar signed_volume_mm3: the signed-tetrahedron sum (None if no triangle).
    :ivar area_mm2: total triangle area (None if no triangle).
    :ivar watertight: see the module docstring; None when not computed.
    :ivar degenerate: triangles of zero area.
    :ivar negative_parts: meshes (parts) whose signed volume is negative; the
        mesh is inside out (:attr:`inverted`) when it is watertight and this is not 0.
    :ivar fingerprint: the two 64-bit sums behind :attr:`geometry_hash` (None without triangles).
    """

    triangles: int
    bbox_min: tuple[float, float, float] | None
    bbox_max: tuple[float, float, float] | None
    signed_volume_mm3: float | None
    area_mm2: float | None
    watertight: bool | None
    degenerate: int = 0
    negative_parts: int = 0
    fingerprint: tuple[int, int] | None = None

    @property
    def inverted(self) -> bool | None:
        """Inside out: watertight with a negative signed volume; None when not watertight."""
        if self.watertight is not True:
            return None
        return self.negative_parts > 0

    @property
    def geometry_hash(self) -> str | None:
        """The encoding-independent fingerprint of the triangles (module docstring), or None."""
        if self.fingerprint is None or not self.triangles:
            return None
        return f"g1:{self.triangles:x}:{self.fingerprint[0]:016x}{self.fingerprint[1]:016x}"

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
        """The enclosed volume: the absolute signed volume of a watertight mesh, else None."""
        if self.signed_volume_mm3 is None or self.watertight is not True:
            return None
        return abs(self.signed_volume_mm3)

    def problems(self) -> list[str]:
        """``[OPEN_MESH]`` for a mesh with triangles that is not watertight, else ``[]``."""
        return [OPEN_MESH] if self.triangles and self.watertight is False else []

    def fields(self) -> dict[str, Any]:
        """The :class:`~.base.ReadResult` fields: triangles, bbox_mm, volume_mm3, area_mm2, watertight."""
        return {
            "triangles": self.triangles,
            "bbox_mm": self.bbox_mm,
            "volume_mm3": self.volume_mm3,
            "area_mm2": self.area_mm2,
            "watertight": self.watertight,
            "degenerate_triangles": self.degenerate,
            "inverted": self.inverted,
            "geometry_hash": self.geometry_hash,
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
        prints = [p.fingerprint for p in with_tris]
        fingerprint = None if any(f is None for f in prints) else (
            sum(f[0] for f in prints) & _MASK, sum(f[1] for f in prints) & _MASK  # type: ignore[index]
        )
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
            degenerate=sum(p.degenerate for p in with_tris),
            negative_parts=sum(p.negative_parts for p in with_tris if p.watertight is True),
            fingerprint=fingerprint,
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


#: elementwise work runs in blocks of this many triangles, so its temporaries stay
#: small and in cache; the sums still run over whole arrays (same rounding)
_BLOCK = 8192


def _measure_corners(cols: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float], float, float, int]:
    """bbox min/max, signed volume, area and degenerate count from a C-contiguous ``(9, n)`` float64 array.

    Row ``3 * k + a`` holds coordinate ``a`` (x, y, z) of corner ``k`` of every triangle.
    """
    n = cols.shape[1]
    mins = cols.min(axis=1)  # NaN propagates: a non-finite coordinate shows up here
    maxs = cols.max(axis=1)
    if not (np.isfinite(mins).all() and np.isfinite(maxs).all()):
        raise ReadError("the mesh has vertex coordinates that are not finite numbers (NaN or infinity)")
    # np.min/np.max, not Python's min/max: the same choice between 0.0 and -0.0 as ever
    lo = tuple(float(np.min((mins[a], mins[a + 3], mins[a + 6]))) for a in range(3))
    hi = tuple(float(np.max((maxs[a], maxs[a + 3], maxs[a + 6]))) for a in range(3))
    # whole-length v1 x v2 (volume: sum of v0 . (v1 x v2) / 6) and |(v1 - v0) x (v2 - v0)| (area: sum / 2)
    out = np.empty((4, n))
    _cross_terms(cols, out)
    cx, cy, cz, norm = out
    # multiply-and-sum, not np.dot: BLAS's threaded kernels sum in an order that depends on
    # the thread count (different last digits in a worker process and in-process)
    six_volume = float((cols[0] * cx).sum() + (cols[1] * cy).sum() + (cols[2] * cz).sum())
    area = float(norm.sum()) / 2.0
    extent = max(h - low for h, low in zip(hi, lo))
    degenerate = int(np.count_nonzero(norm <= 1e-12 * extent * extent))
    return lo, hi, six_volume / 6.0, area, degenerate  # type: ignore[return-value]


def _cross_terms(cols: np.ndarray, out: np.ndarray) -> None:
    """Write v1 x v2 (x, y, z) and |(v1 - v0) x (v2 - v0)| per triangle of ``cols`` (9, n) into ``out`` (4, n)."""
    n = cols.shape[1]
    block, mul, sub = min(_BLOCK, n), np.multiply, np.subtract
    scratch = np.empty((10, block))
    for s in range(0, n, block):
        e = min(s + block, n)
        x0, y0, z0, x1, y1, z1, x2, y2, z2 = cols[:, s:e]
        ax, ay, az, bx, by, bz, nx, ny, nz, t = scratch[:, : e - s]
        ocx, ocy, ocz, onorm = out[:, s:e]
        mul(y1, z2, out=ocx)
        ocx -= mul(z1, y2, out=t)
        mul(z1, x2, out=ocy)
        ocy -= mul(x1, z2, out=t)
        mul(x1, y2, out=ocz)
        ocz -= mul(y1, x2, out=t)
        sub(cols[3:6, s:e], cols[0:3, s:e], out=scratch[0:3, : e - s])  # ax, ay, az
        sub(cols[6:9, s:e], cols[0:3, s:e], out=scratch[3:6, : e - s])  # bx, by, bz
        mul(ay, bz, out=nx)
        nx -= mul(az, by, out=t)
        mul(az, bx, out=ny)
        ny -= mul(ax, bz, out=t)
        mul(ax, by, out=nz)
        nz -= mul(ay, bx, out=t)
        nx *= nx
        nx += mul(ny, ny, out=t)
        nx += mul(nz, nz, out=t)
        np.sqrt(nx, out=onorm)


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
    lo, hi, volume, area, degenerate = _measure_corners(cols)
    tight = watertight_soup(tris, limits) if watertight else None
    return MeshMetrics(n, lo, hi, volume, area, tight, degenerate, int(volume < 0), fingerprint(cols))


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
    # gather the corners straight into the (9, n) rows (indices checked above)
    cols = np.empty((9, n), dtype=np.float64)
    xyz = (np.ascontiguousarray(verts[:, 0]), np.ascontiguousarray(verts[:, 1]), np.ascontiguousarray(verts[:, 2]))
    for k in range(3):
        idx = np.ascontiguousarray(f[:, k])
        for a in range(3):
            np.take(xyz[a], idx, out=cols[3 * k + a], mode="clip")
    lo, hi, volume, area, degenerate = _measure_corners(cols)
    tight = is_watertight(verts, f, limits) if watertight else None
    # each vertex hashed once (not once per corner) unless most vertices are unused
    prints = fingerprint_indexed(verts, f) if len(verts) <= 3 * n else fingerprint(cols)
    return MeshMetrics(n, lo, hi, volume, area, tight, degenerate, int(volume < 0), prints)


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


class IndexedMeshReader:
    """Base for readers of vertex + face formats (OBJ, PLY, ...).

    A subclass sets ``name`` and ``extensions`` and implements :meth:`parse`;
    reading (figures) and drawing (:meth:`triangles`) are shared.
    """

    name: str
    extensions: tuple[str, ...]

    def parse(self, data: bytes, limits: Limits) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
        """Vertices ``(m, 3)``, faces ``(n, 3)``, format metadata and problems of the file's bytes."""
        raise NotImplementedError

    def _parse(self, source: Source) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
        data = read_all(source)
        if not data.strip():
            raise ReadError("empty file")
        return self.parse(data, source.limits)

    def read(self, source: Source) -> ReadResult:
        """Triangles (after triangulation), box, volume, area and watertightness."""
        vertices, faces, meta, problems = self._parse(source)
        metrics = measure_indexed(vertices, faces, source.limits)
        return ReadResult(format=self.name, problems=problems + metrics.problems(), meta=meta, **metrics.fields())

    def triangles(self, source: Source) -> np.ndarray:
        """The triangles as an ``(n, 3, 3)`` array (for drawing)."""
        vertices, faces, _, _ = self._parse(source)
        check_faces(faces, len(vertices))
        return vertices[faces]

