"""Watertightness of a mesh: every edge used by exactly two triangles.

Definition (what the catalogue shows): after merging vertices whose coordinates
are bit-identical (``-0.0`` counts as ``0.0``; no tolerance), every undirected
edge is used by exactly two triangles, and there is at least one triangle.
Winding consistency is not part of it. ``Limits.watertight_max_triangles``
(None, unlimited, by default) skips the check above it: the answer is then
None (unknown).

Implementation: equal vertices are found by one plain sort of 64-bit
coordinate hashes (with the row number in the low bits), every group is
checked to hold bit-identical coordinates, and a group that does not (a hash
collision) is sorted exactly; edges are paired by one sort of their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .base import DEFAULT_LIMITS, Limits

__all__ = ["is_watertight", "watertight_blocks", "watertight_soup"]


def _vertex_ids(coords: np.ndarray) -> np.ndarray:
    """An id per row of ``coords`` (m, 3): equal ids for bit-identical rows (-0.0 == 0.0).

    The ids are dense (0 .. k-1) and exact: rows are grouped by a 64-bit hash of
    their coordinate bits (one plain sort of hash-and-row-number keys), every group
    is checked to hold bit-identical rows only, and a group that does not (a hash
    collision) is split by an exact sort of its rows' coordinates.
    """
    c = np.asarray(coords)
    bits: np.ndarray
    # + 0.0 turns -0.0 into 0.0 (and makes a contiguous copy, whatever the layout of c)
    if c.dtype == np.float32:
        bits = np.ascontiguousarray(c + np.float32(0.0)).view(np.uint32).reshape(-1, 3)
    else:
        bits = np.ascontiguousarray(c.astype(np.float64, copy=False) + 0.0).view(np.uint64).reshape(-1, 3)
    if len(bits) == 0:
        return np.empty(0, dtype=np.int64)
    return _hashed_ids(bits)


#: odd multipliers for the coordinate hash (from splitmix64 / xxhash)
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_K3 = np.uint64(0x165667B19E3779F9)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _row_hashes(bits: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of ``bits`` (m, 3) uint32/uint64 (``scratch``: m uint64 to reuse).

    Each coordinate is folded in through a multiply and an xor-shift, so the
    sign bits of mirrored coordinates (+x, -y) and (-x, +y) cannot cancel out.
    """
    shr = np.right_shift
    with np.errstate(over="ignore"):
        h = bits[:, 0].astype(np.uint64)
        h *= _K1
        h ^= shr(h, np.uint64(32), out=scratch)
        h += bits[:, 1]
        h *= _K2
        h ^= shr(h, np.uint64(29), out=scratch)
        h += bits[:, 2]
        h *= _K3
        # splitmix64 finaliser: every input bit reaches the top bits kept by the caller
        h ^= shr(h, np.uint64(30), out=scratch)
        h *= _M1
        h ^= shr(h, np.uint64(27), out=scratch)
        h *= _M2
        h ^= shr(h, np.uint64(31), out=scratch)
    return h


def _hashed_ids(bits: np.ndarray) -> np.ndarray:
    """Dense ids for the rows of ``bits`` (contiguous (m, 3) uint32/uint64), equal for equal rows."""
    m = len(bits)
    scratch = np.empty(m, dtype=np.uint64)
    h = _row_hashes(bits, scratch)
    # key = top (64 - shift) hash bits, then the row number: one plain sort groups equal
    # hashes and gives each row's position (several times faster than an argsort)
    shift = max(1, (m - 1).bit_length())
    low = np.uint64((1 << shift) - 1)
    h &= ~low
    h |= np.arange(m, dtype=np.uint64)
    h.sort()
    hashes = np.right_shift(h, np.uint64(shift), out=scratch)
    new = np.empty(m, dtype=bool)  # True where a group starts
    new[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=new[1:])
    h &= low
    order = h.view(np.int64)  # row numbers in hash order
    if not new.all():
        # every group of equal hashes must hold bit-identical rows: compare each row
        # with the one before it in hash order
        rows = np.take(bits.view(f"V{3 * bits.itemsize}").ravel(), order).view(bits.dtype).reshape(m, 3)
        differs = np.not_equal(rows[1:, 0], rows[:-1, 0])
        step = np.empty_like(differs)
        differs |= np.not_equal(rows[1:, 1], rows[:-1, 1], out=step)
        differs |= np.not_equal(rows[1:, 2], rows[:-1, 2], out=step)
        differs &= np.logical_not(new[1:], out=step)
        if differs.any():
            _split_collisions(rows, order, new, differs)
    ranks = np.cumsum(new, dtype=np.int64, out=scratch.view(np.int64))
    ranks -= 1
    ids = np.empty(m, dtype=np.int64)
    np.put(ids, order, ranks)
    return ids


def _split_collisions(rows: np.ndarray, order: np.ndarray, new: np.ndarray, differs: np.ndarray) -> None:
    """Sort the hash groups holding different rows by their coordinates, and mark
    each run of equal rows there as a group of its own (``order``/``new`` in place)."""
    group = np.cumsum(new) - 1
    bad = np.zeros(int(group[-1]) + 1, dtype=bool)
    bad[group[1:][differs]] = True
    pos = np.flatnonzero(bad[group])  # whole groups, so runs of positions
    sub = rows[pos]
    g = group[pos]
    exact = np.lexsort((sub[:, 2], sub[:, 1], sub[:, 0], g))  # by group, then coordinates
    order[pos] = order[pos][exact]
    sub = sub[exact]
    fresh = np.ones(len(pos), dtype=bool)
    fresh[1:] = (g[1:] != g[:-1]) | (sub[1:] != sub[:-1]).any(axis=1)
    new[pos] = fresh


def _edges_twice(ids: np.ndarray) -> bool:
    """True when every undirected edge of the (n, 3) id triangles occurs exactly twice."""
    f = ids.reshape(-1, 3)
    if len(f) == 0 or len(f) % 2:  # 3n edge uses must pair up
        return False
    a = np.concatenate((f[:, 0], f[:, 1], f[:, 2]))
    b = np.concatenate((f[:, 1], f[:, 2], f[:, 0]))
    bound = int(ids.max()) + 1
    if bound * bound <= 2**32:  # every key fits 32 bits: a sort of half the bytes, about twice as quick
        a = a.astype(np.uint32)
        b = b.astype(np.uint32)
    span = a.dtype.type(bound)
    high = np.maximum(a, b)
    keys = np.minimum(a, b, out=a)
    keys *= span
    keys += high
    keys.sort()
    firsts = keys[0::2]
    seconds = keys[1::2]
    if not np.array_equal(firsts, seconds):
        return False
    return bool(np.all(seconds[:-1] != firsts[1:]))


def _over_watertight_limit(n: int, limits: Limits) -> bool:
    cap = limits.watertight_max_triangles
    return cap is not None and n > cap


def watertight_soup(tris: np.ndarray, limits: Limits = DEFAULT_LIMITS) -> bool | None:
    """Watertightness of a triangle soup ``(n, 3, 3)`` (None above ``limits.watertight_max_triangles``)."""
    if _over_watertight_limit(len(tris), limits):
        return None
    return _edges_twice(_vertex_ids(tris))


def is_watertight(vertices: np.ndarray, faces: np.ndarray, limits: Limits = DEFAULT_LIMITS) -> bool | None:
    """Watertightness of an indexed mesh (definition in the module docstring).

    :returns: None when ``limits.watertight_max_triangles`` is set and the mesh has more.
    """
    f = np.asarray(faces).reshape(-1, 3)
    if _over_watertight_limit(len(f), limits):
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


#: vertex rows hashed / compared per step by :func:`watertight_blocks`
_STREAM_ROWS = 1 << 18


def watertight_blocks(blocks: Callable[[], Iterator[np.ndarray]], n: int, limits: Limits = DEFAULT_LIMITS) -> bool | None:
    """Watertightness of a triangle soup of ``n`` triangles read in blocks, with little memory.

    The same answer as :func:`watertight_soup` over the concatenated blocks (same
    definition, same exactness), but the soup is never held whole: ``blocks()``
    returns a fresh iterator over ``(k, 3, 3)`` float32 corner blocks in order
    (each block may be reused by the next) and is called twice, once to hash the
    vertices and once to check that every group of equal hashes holds
    bit-identical rows. Memory: 8 bytes per vertex for the hash keys, then 4
    bytes per vertex for the ids and 8 per edge for the edge keys (and, when any
    two vertices share a hash, 12 bytes per group for the check); rows whose
    hashes collide are split exactly.
    """
    if _over_watertight_limit(n, limits):
        return None
    if n == 0 or n % 2:  # 3n edge uses must pair up
        return False
    m = 3 * n
    shift = max(1, (m - 1).bit_length())
    low = np.uint64((1 << shift) - 1)
    keys = np.empty(m, dtype=np.uint64)
    pos = 0
    scratch = np.empty(min(m, _STREAM_ROWS), dtype=np.uint64)
    for block in blocks():
        rows = block.reshape(-1, 3)
        for s in range(0, len(rows), _STREAM_ROWS):
            part = rows[s : s + _STREAM_ROWS]
            k = len(part)
            bits = np.ascontiguousarray(part + np.float32(0.0)).view(np.uint32).reshape(-1, 3)
            h = _row_hashes(bits, scratch[:k])
            h &= ~low
            h |= np.arange(pos, pos + k, dtype=np.uint64)
            keys[pos : pos + k] = h
            pos += k
    if pos != m:
        raise ValueError(f"the blocks held {pos} vertices, not {m}")
    keys.sort()
    # dense ids: rank of each row's hash group, scattered back to row order
    ids = np.empty(m, dtype=np.int32 if 2 * m < 2**31 else np.int64)
    groups = 0
    merged = False
    for s in range(0, m, _STREAM_ROWS):
        e = min(s + _STREAM_ROWS, m)
        part = keys[s:e]
        new = np.empty(e - s, dtype=bool)
        if s == 0:
            new[0] = True
        else:
            new[0] = (part[0] ^ keys[s - 1]) > low
        np.greater(part[1:] ^ part[:-1], low, out=new[1:])
        ranks = np.cumsum(new, dtype=np.int64)
        ranks += groups - 1
        groups = int(ranks[-1]) + 1
        merged = merged or not new.all()
        np.put(ids, (part & low).view(np.int64), ranks)
    del keys, part  # (part is a view of keys)
    if merged:
        groups = _split_groups(blocks, ids, groups)
    edges = _edge_keys(ids.reshape(-1, 3), groups)
    del ids
    return _keys_pair_up(edges)


def _split_groups(blocks: Callable[[], Iterator[np.ndarray]], ids: np.ndarray, groups: int) -> int:
    """Make every group of ``ids`` hold bit-identical rows only; returns the new id bound.

    One pass compares every row with its group's representative (the first block
    holding the group writes it); the rows of a group that does not match (a hash
    collision in the bits the keys keep) get fresh exact ids (np.unique of their
    coordinates) in one more pass.
    """
    # x and y bits packed in one uint64, z apart: 1-D take/put are several times faster than rows
    rep_xy = np.empty(groups, dtype=np.uint64)
    rep_z = np.empty(groups, dtype=np.uint32)
    seen = np.zeros(groups, dtype=bool)  # the group's representative is written
    bad: list[np.ndarray] = []
    for where, bits in _id_blocks(blocks, ids):
        xy = bits[:, :2].copy().view(np.uint64).ravel()
        z = bits[:, 2]
        first = ~np.take(seen, where)
        if first.all():
            np.put(rep_xy, where, xy)
            np.put(rep_z, where, z)
        elif first.any():
            np.put(rep_xy, where[first], xy[first])
            np.put(rep_z, where[first], z[first])
        np.put(seen, where, True)
        # a group written twice above keeps one of its rows: every row is compared with it
        wrong = np.not_equal(np.take(rep_xy, where), xy)
        wrong |= np.not_equal(np.take(rep_z, where), z)
        if wrong.any():
            bad.append(np.unique(where[wrong]))
    if not bad:
        return groups
    split = np.unique(np.concatenate(bad))
    rows: list[np.ndarray] = []
    coords: list[np.ndarray] = []
    pos = 0
    for where, bits in _id_blocks(blocks, ids):
        hit = np.flatnonzero(np.isin(where, split))
        rows.append(hit + pos)
        coords.append(bits[hit])
        pos += len(where)
    at = np.concatenate(rows)
    _, fresh = np.unique(np.concatenate(coords), axis=0, return_inverse=True)
    fresh = fresh.ravel()
    ids[at] = fresh + groups
    return groups + int(fresh.max()) + 1


def _id_blocks(blocks: Callable[[], Iterator[np.ndarray]], ids: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(ids, coordinate bits)`` of the vertex rows of ``blocks()``, in steps (-0.0 made 0.0)."""
    pos = 0
    for block in blocks():
        rows = block.reshape(-1, 3)
        for s in range(0, len(rows), _STREAM_ROWS):
            bits = np.ascontiguousarray(rows[s : s + _STREAM_ROWS] + np.float32(0.0)).view(np.uint32).reshape(-1, 3)
            yield ids[pos : pos + len(bits)], bits
            pos += len(bits)


def _edge_keys(f: np.ndarray, groups: int) -> np.ndarray:
    """The undirected edge keys (low id * ``groups`` + high id) of ``(n, 3)`` id triangles, built in steps
    (uint32 when every key fits, else int64)."""
    n = len(f)
    kind = np.uint32 if groups * groups <= 2**32 else np.int64  # 32-bit keys sort about twice as quick
    span = kind(groups)
    keys = np.empty(3 * n, dtype=kind)
    step = _STREAM_ROWS
    for k in range(3):
        a_col, b_col = f[:, k], f[:, (k + 1) % 3]
        for s in range(0, n, step):
            e = min(s + step, n)
            a = a_col[s:e].astype(kind)
            b = b_col[s:e].astype(kind)
            out = keys[k * n + s : k * n + e]
            np.minimum(a, b, out=out)
            out *= span
            np.maximum(a, b, out=a)
            out += a
    return keys


def _keys_pair_up(keys: np.ndarray) -> bool:
    """Every edge key occurs exactly twice (``keys`` is sorted in place)."""
    step = _STREAM_ROWS
    keys.sort()
    firsts = keys[0::2]
    seconds = keys[1::2]
    half = len(firsts)
    for s in range(0, half, step):
        e = min(s + step, half)
        if not np.array_equal(firsts[s:e], seconds[s:e]):
            return False
        if not np.all(seconds[s : min(e, half - 1)] != firsts[s + 1 : min(e, half - 1) + 1]):
            return False
    return True
