"""Mesh metrics of a triangle soup read in pieces (a big binary STL straight from the file).

:func:`measure_triangle_stream` gives exactly what :func:`.mesh.measure_triangles`
gives over the whole array, bit for bit, while holding only a piece of the soup
at a time. The sums over whole arrays that :mod:`.mesh` takes follow numpy's
pairwise summation, whose tree depends only on the length (split at n / 2
rounded down to a multiple of 8, down to pieces it sums directly); each piece
here is a node of that tree (:func:`pairwise_leaves`), summed by ``np.sum``,
and the pieces' sums are added back up the same tree. Minimum and maximum,
the fingerprint (integer sums modulo 2**64) and the degenerate count do not
depend on the order; watertightness is :func:`.watertight.watertight_blocks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .base import DEFAULT_LIMITS, Limits, ReadError
from .fingerprint import MASK as _MASK, fingerprint
from .mesh import MeshMetrics, _check_count, _cross_terms, _empty
from .watertight import watertight_blocks

__all__ = ["measure_triangle_stream", "pairwise_leaves"]


#: the largest piece of :func:`measure_triangle_stream` (triangles held as float64 at a time)
_STREAM_LEAF = 65536


def pairwise_leaves(n: int, leaf: int = _STREAM_LEAF) -> list[tuple[int, int]]:
    """The ``(start, stop)`` ranges, in order, where numpy's pairwise sum of ``n`` numbers
    splits down to pieces of at most ``leaf``: summing each piece with ``np.sum`` and
    adding the pieces back up the same tree gives the whole-array sum bit for bit."""
    out: list[tuple[int, int]] = []

    def split(start: int, count: int) -> None:
        if count <= leaf:
            out.append((start, start + count))
            return
        half = count // 2
        half -= half % 8  # numpy's pairwise_sum: split at n / 2 rounded down to a multiple of 8
        split(start, half)
        split(start + half, count - half)

    if n:
        split(0, n)
    return out


def _tree_sum(count: int, leaf: int, parts: Any) -> np.ndarray:
    """Add the leaf sums from the iterator ``parts`` back up the tree of :func:`pairwise_leaves`."""
    if count <= leaf:
        return next(parts)  # type: ignore[no-any-return]
    half = count // 2
    half -= half % 8
    left = _tree_sum(half, leaf, parts)
    return left + _tree_sum(count - half, leaf, parts)  # type: ignore[no-any-return]


def measure_triangle_stream(
    read: Callable[[list[tuple[int, int]]], Iterator[np.ndarray]],
    n: int,
    limits: Limits = DEFAULT_LIMITS,
    watertight: bool = True,
) -> MeshMetrics:
    """:func:`measure_triangles` of ``n`` triangles read in pieces: the same figures bit for bit.

    :param read: given ``(start, stop)`` ranges in order, returns an iterator over the
        ``(stop - start, 3, 3)`` float32 corners of each (a block may be reused by the next);
        called once for the figures and twice more for watertightness.
    :raises ReadError: non-finite coordinates, or more triangles than ``limits.max_triangles``.

    Memory: a leaf of float64 work arrays plus 8 bytes per triangle (the areas, for
    the degenerate count), then what :func:`.watertight.watertight_blocks` needs;
    the sums follow numpy's pairwise tree over the whole arrays (:func:`pairwise_leaves`).
    """
    if n == 0:
        return _empty()
    _check_count(n, limits)
    leaf = _STREAM_LEAF
    ranges = pairwise_leaves(n, leaf)
    norms = np.empty(n, dtype=np.float64)
    mins: list[np.ndarray] = []
    maxs: list[np.ndarray] = []
    prints = [0, 0]

    def leaf_sums() -> Iterator[np.ndarray]:
        for (start, stop), block in zip(ranges, read(ranges)):
            k = stop - start
            cols = np.empty((9, k), dtype=np.float64)
            cols[...] = block.reshape(k, 9).T
            mn, mx = cols.min(axis=1), cols.max(axis=1)
            if not (np.isfinite(mn).all() and np.isfinite(mx).all()):
                raise ReadError("the mesh has vertex coordinates that are not finite numbers (NaN or infinity)")
            mins.append(mn)
            maxs.append(mx)
            out = np.empty((4, k))
            _cross_terms(cols, out)
            cx, cy, cz, norm = out
            norms[start:stop] = norm
            first, second = fingerprint(cols)
            prints[0] += first
            prints[1] += second
            yield np.array([(cols[0] * cx).sum(), (cols[1] * cy).sum(), (cols[2] * cz).sum(), norm.sum()])

    sums = _tree_sum(n, leaf, leaf_sums())
    low_all = np.min(np.array(mins), axis=0)
    high_all = np.max(np.array(maxs), axis=0)
    lo = tuple(float(np.min((low_all[a], low_all[a + 3], low_all[a + 6]))) for a in range(3))
    hi = tuple(float(np.max((high_all[a], high_all[a + 3], high_all[a + 6]))) for a in range(3))
    six_volume = float(sums[0] + sums[1] + sums[2])
    area = float(sums[3]) / 2.0
    extent = max(h - low for h, low in zip(hi, lo))
    degenerate = int(np.count_nonzero(norms <= 1e-12 * extent * extent))
    del norms
    volume = six_volume / 6.0
    tight = None
    if watertight:
        step = [(s, min(s + leaf, n)) for s in range(0, n, leaf)]
        tight = watertight_blocks(lambda: read(step), n, limits)
    fp = (prints[0] & _MASK, prints[1] & _MASK)
    return MeshMetrics(n, lo, hi, volume, area, tight, degenerate, int(volume < 0), fp)  # type: ignore[arg-type]
