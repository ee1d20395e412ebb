"""Small binary STLs measured in plain Python: the same figures as numpy, without its per-call cost.

A library of many tiny parts pays numpy's fixed cost per call (some seventy
array calls per mesh in :func:`~.mesh.measure_triangles`, the fingerprint and
the watertight check) on every file, which for a 12-triangle STL is many times
the work itself. Below :data:`SMALL_TRIANGLES` triangles, a plain binary STL
(exact size, no ``solid`` header, finite coordinates, no flat side) is
measured here instead, with results identical bit for bit:

- the same float64 operations in the same order (the cross products written
  out per component, as :func:`~.mesh._measure_corners` does);
- sums in numpy's own order (:func:`_numpy_sum`: pairwise summation in blocks
  of eight accumulators, as ``ndarray.sum`` does for a contiguous float64 array);
- the fingerprint and the watertight check on the coordinates' float32 bits
  (``-0.0`` counted as ``0.0``), as :mod:`.fingerprint` and :mod:`.watertight`.

Anything else (ASCII, a count that does not fit the size, trailing bytes,
NaN or infinity, a zero extent whose sign numpy picks, more triangles) returns
None and goes the usual way, so errors and problems are worded as ever.
``tests/test_stl_small.py`` checks the equality against the numpy path.
"""

from __future__ import annotations

import math
import struct
from collections import Counter

from .base import Limits, ReadError, ReadResult, Source
from .fingerprint import MASK
from .mesh import MeshMetrics, read_all

__all__ = ["SMALL_TRIANGLES", "measure_small_binary", "read_small_binary_stl"]

#: binary STLs with at most this many triangles are measured here: about where
#: plain Python (some 8 us a triangle) and numpy (some 0.4 ms a mesh) break even (measured)
SMALL_TRIANGLES = 32
#: the most triangles the plain-Python sums reproduce numpy's for (one unbuffered reduction)
_EXACT_MAX = 8192 // 9

_HEADER = 84
_RECORD = 50
_CORNERS = struct.Struct("<12x9f2x")
_BITS = struct.Struct("<12x9I2x")

_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_EDGE = 0x9E3779B97F4A7C15
_SECOND = 0xD6E8FEB86659FD93
_SIGN = 0x80000000
_EXPONENT = 0x7F800000


def _pairwise(a: list[float], lo: int, n: int) -> float:
    """numpy's pairwise summation of ``a[lo:lo + n]`` (its ``pairwise_sum`` for float64)."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = a[lo : lo + 8]
        i = lo + 8
        end = lo + n - (n % 8)
        while i < end:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(i, lo + n):
            res += a[j]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


def _numpy_sum(a: list[float]) -> float:
    """``float(np.array(a).sum())`` for a list of floats, bit for bit (up to 8192 values: one unbuffered numpy reduction)."""
    return 0.0 + _pairwise(a, 0, len(a))


def _mix(x: int) -> int:
    """splitmix64's finaliser (64-bit wrapping)."""
    x ^= x >> 30
    x = (x * _M1) & MASK
    x ^= x >> 27
    x = (x * _M2) & MASK
    x ^= x >> 31
    return x


def measure_small_binary(
    data: bytes, count: int, limits: Limits, max_triangles: int = SMALL_TRIANGLES
) -> MeshMetrics | None:
    """The metrics of the ``count`` triangle records of binary STL ``data`` (header included),
    or None when this path does not apply (see the module docstring; at most
    ``max_triangles``, itself at most 910)."""
    if not 0 < count <= min(max_triangles, _EXACT_MAX) or len(data) != _HEADER + _RECORD * count:
        return None
    view = memoryview(data)[_HEADER:]
    corners = list(_CORNERS.iter_unpack(view))
    if not math.isfinite(sum(map(sum, corners))):
        return None  # NaN or infinity (or a sum too large for a float): the usual path words it
    # bounding box (only extents are kept: the sign of a zero matters only for a zero extent,
    # which is left to numpy)
    cols = list(zip(*corners))
    lo = (min(min(cols[0]), min(cols[3]), min(cols[6])), min(min(cols[1]), min(cols[4]), min(cols[7])),
          min(min(cols[2]), min(cols[5]), min(cols[8])))  # fmt: skip
    hi = (max(max(cols[0]), max(cols[3]), max(cols[6])), max(max(cols[1]), max(cols[4]), max(cols[7])),
          max(max(cols[2]), max(cols[5]), max(cols[8])))  # fmt: skip
    extents = (hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])
    if 0.0 in extents:
        return None
    vol_x: list[float] = []
    vol_y: list[float] = []
    vol_z: list[float] = []
    norms: list[float] = []
    sqrt = math.sqrt
    for x0, y0, z0, x1, y1, z1, x2, y2, z2 in corners:
        vol_x.append(x0 * (y1 * z2 - z1 * y2))
        vol_y.append(y0 * (z1 * x2 - x1 * z2))
        vol_z.append(z0 * (x1 * y2 - y1 * x2))
        ax, ay, az = x1 - x0, y1 - y0, z1 - z0
        bx, by, bz = x2 - x0, y2 - y0, z2 - z0
        nx = ay * bz - az * by
        ny = az * bx - ax * bz
        nz = ax * by - ay * bx
        norms.append(sqrt((nx * nx + ny * ny) + nz * nz))
    six_volume = (_numpy_sum(vol_x) + _numpy_sum(vol_y)) + _numpy_sum(vol_z)
    volume = six_volume / 6.0
    area = _numpy_sum(norms) / 2.0
    extent = max(extents)
    limit = 1e-12 * extent * extent
    degenerate = sum(1 for v in norms if v <= limit)
    # float32 bits with -0.0 as 0.0: the fingerprint's and the watertight check's vertices
    # (a corner's hash and id are worked out once per distinct vertex; _mix written out
    # in the loop: a call per hash was a fifth of a small file's cost)
    first = second = 0
    vertices: dict[tuple[int, ...], tuple[int, int]] = {}
    edge_keys: list[tuple[int, int]] = []
    mask, m1, m2, edge, sign = MASK, _M1, _M2, _EDGE, _SIGN
    for row in _BITS.iter_unpack(view):
        if sign in row:
            row = tuple(0 if b == sign else b for b in row)
        ids = []
        hs = []
        for key in (row[0:3], row[3:6], row[6:9]):
            known = vertices.get(key)
            if known is None:
                x = (key[0] | (key[1] << 32)) ^ ((key[2] * edge) & mask)
                x ^= x >> 30
                x = (x * m1) & mask
                x ^= x >> 27
                x = (x * m2) & mask
                known = vertices[key] = (len(vertices), x ^ (x >> 31))
            ids.append(known[0])
            hs.append(known[1])
        h0, h1, h2 = hs
        tri = 0
        for x in ((h0 * edge + h1) & mask, (h1 * edge + h2) & mask, (h2 * edge + h0) & mask):
            x ^= x >> 30
            x = (x * m1) & mask
            x ^= x >> 27
            x = (x * m2) & mask
            tri += x ^ (x >> 31)
        tri &= mask
        first += tri
        x = tri ^ _SECOND
        x ^= x >> 30
        x = (x * m1) & mask
        x ^= x >> 27
        x = (x * m2) & mask
        second += x ^ (x >> 31)
        a, b_, c = ids
        edge_keys.append((a, b_) if a < b_ else (b_, a))
        edge_keys.append((b_, c) if b_ < c else (c, b_))
        edge_keys.append((c, a) if c < a else (a, c))
    edges = Counter(edge_keys)
    cap = limits.watertight_max_triangles
    check_tight = cap is None or count <= cap
    tight: bool | None = None
    if check_tight:
        tight = count % 2 == 0 and all(v == 2 for v in edges.values())
    return MeshMetrics(count, lo, hi, volume, area, tight, degenerate, int(volume < 0),
                       (first & MASK, second & MASK))  # fmt: skip


def read_small_binary_stl(
    source: Source, reader_name: str = "stl", max_triangles: int = SMALL_TRIANGLES
) -> ReadResult | None:
    """What :meth:`StlReader.read <.stl.StlReader.read>` returns for a small plain binary
    STL (at most ``max_triangles``), or None when the file is not one (then read it the usual way)."""
    if not _HEADER < source.size <= _HEADER + _RECORD * min(max_triangles, _EXACT_MAX):
        return None
    count = (source.size - _HEADER) // _RECORD
    if count > source.limits.max_triangles:
        return None
    try:
        data = read_all(source)
    except ReadError:
        return None
    if len(data) != source.size or data[:512].lstrip()[:5].lower() == b"solid":
        return None  # a 'solid' header may be ASCII: the usual path decides
    if int.from_bytes(data[80:84], "little") != count:
        return None
    metrics = measure_small_binary(data, count, source.limits, max_triangles)
    if metrics is None:
        return None
    return ReadResult(format=reader_name, problems=metrics.problems(), meta={"encoding": "binary"},
                      **metrics.fields())  # fmt: skip
