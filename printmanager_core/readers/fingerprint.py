"""The geometry fingerprint behind ``MeshMetrics.geometry_hash`` (see :mod:`.mesh`).

Every coordinate is rounded to float32 (``-0.0`` counts as ``0.0``), each
triangle is hashed from its three directed edges with splitmix64's finaliser,
and the triangles' hashes are summed modulo 2**64 twice (as they are, and once
more mixed), so neither the order of the triangles nor which corner comes first
changes the result; the winding does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fingerprint"]

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


def fingerprint(cols: np.ndarray) -> tuple[int, int]:
    """The two 64-bit sums behind ``geometry_hash`` of a ``(9, n)`` corner array (module docstring)."""
    n = cols.shape[1]
    first = second = 0
    step = 65536
    with np.errstate(over="ignore"):
        for s in range(0, n, step):
            e = min(s + step, n)
            f32 = cols[:, s:e].astype(np.float32)
            f32 += np.float32(0.0)  # -0.0 becomes 0.0
            bits = f32.view(np.uint32)
            corners = []
            for k in range(3):
                h = bits[3 * k].astype(np.uint64)
                h |= bits[3 * k + 1].astype(np.uint64) << np.uint64(32)
                h ^= bits[3 * k + 2].astype(np.uint64) * _EDGE
                corners.append(_mix(h))
            tri = np.zeros(e - s, dtype=np.uint64)
            for k in range(3):
                edge = corners[k] * _EDGE
                edge += corners[(k + 1) % 3]
                tri += _mix(edge)
            first += int(tri.sum(dtype=np.uint64))
            tri ^= _SECOND
            second += int(_mix(tri).sum(dtype=np.uint64))
    return first & _MASK, second & _MASK
