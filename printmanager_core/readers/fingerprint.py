"""The geometry fingerprint behind ``MeshMetrics.geometry_hash`` (see :mod:`.mesh`).

Every coordinate is rounded to float32 (``-0.0`` counts as ``0.0``), each
triangle is hashed from its three directed edges with splitmix64's finaliser,
and the triangles' hashes are summed modulo 2**64 twice (as they are, and once
more mixed), so neither the order of the triangles nor which corner comes first
changes the result; the winding does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fingerprint", "fingerprint_indexed"]

#: sums are taken modulo 2**64
MASK = 2**64 - 1
_MASK = MASK
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_EDGE = np.uint64(0x9E3779B97F4A7C15)
_SECOND = np.uint64(0xD6E8FEB86659FD93)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array, in place (wrapping arithmetic)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _corner_hashes(bits: np.ndarray) -> np.ndarray:
    """The hash of each corner (or vertex) from its x, y, z float32 bits (three uint32 arrays)."""
    h = bits[0].astype(np.uint64)
    h |= bits[1].astype(np.uint64) << np.uint64(32)
    h ^= bits[2].astype(np.uint64) * _EDGE
    return _mix(h)


def _sums(corners: list[np.ndarray]) -> tuple[int, int]:
    """The two (unmasked) sums of the triangles whose corners have the hashes ``corners``."""
    tri = np.zeros(len(corners[0]), dtype=np.uint64)
    for k in range(3):
        edge = corners[k] * _EDGE
        edge += corners[(k + 1) % 3]
        tri += _mix(edge)
    first = int(tri.sum(dtype=np.uint64))
    tri ^= _SECOND
    return first, int(_mix(tri).sum(dtype=np.uint64))


def _float32_bits(values: np.ndarray) -> np.ndarray:
    f32 = values.astype(np.float32)
    f32 += np.float32(0.0)  # -0.0 becomes 0.0
    return f32.view(np.uint32)


#: triangles hashed per step (bounds the temporaries)
_STEP = 65536


def fingerprint(cols: np.ndarray) -> tuple[int, int]:
    """The two 64-bit sums behind ``geometry_hash`` of a ``(9, n)`` corner array (module docstring)."""
    n = cols.shape[1]
    first = second = 0
    with np.errstate(over="ignore"):
        for s in range(0, n, _STEP):
            bits = _float32_bits(cols[:, s : s + _STEP])
            a, b = _sums([_corner_hashes(bits[3 * k : 3 * k + 3]) for k in range(3)])
            first += a
            second += b
    return first & _MASK, second & _MASK


def fingerprint_indexed(vertices: np.ndarray, faces: np.ndarray) -> tuple[int, int]:
    """:func:`fingerprint` of the triangles ``vertices[faces]``, hashing each vertex once.

    ``vertices`` is ``(m, 3)``, ``faces`` ``(n, 3)`` indices in range; the result is the
    same as ``fingerprint`` of the gathered corners (a corner's hash depends only on
    its coordinates).
    """
    f = faces.reshape(-1, 3)
    n = len(f)
    with np.errstate(over="ignore"):
        vh = _corner_hashes(_float32_bits(np.asarray(vertices).reshape(-1, 3)).T)
        first = second = 0
        for s in range(0, n, _STEP):
            part = f[s : s + _STEP]
            a, b = _sums([np.take(vh, part[:, k]) for k in range(3)])
            first += a
            second += b
    return first & _MASK, second & _MASK
