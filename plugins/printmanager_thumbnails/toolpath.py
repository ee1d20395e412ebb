"""A sliced file's toolpath as triangles, for G-code that carries no picture.

Headless slicers (CuraEngine on a server, older PrusaSlicer profiles) write
G-code without thumbnails. Their files still describe the object exactly: the
extrusion moves. Each extruding move becomes a flat box as wide as a typical
extrusion and as tall as its layer (top plus two sides, six triangles), which the
mesh renderer draws like any mesh.

Understood: ``G0``/``G1`` (``G2``/``G3`` arcs as straight chords), ``G90``/``G91``,
``M82``/``M83``, ``G92``. Travel moves, retractions, everything before the first
layer marker, and skirt, purge and wipe-tower features are left out, so the
picture shows the object, not the printer's priming line.
"""

from __future__ import annotations

import re
from typing import IO

import numpy as np

from .picture import ThumbnailError

#: G-code read at most (bytes); a larger file is drawn from its first part (lower layers)
MAX_GCODE_BYTES = 256 * 1024 * 1024
#: extrusion moves kept at most; beyond this they are thinned evenly
MAX_SEGMENTS = 250_000
#: extrusion width used for drawing, as a multiple of the layer height (bounded below)
WIDTH_FACTOR = 2.0

_WORD = re.compile(rb"([XYZE])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
_LAYER = re.compile(rb";\s*(?:LAYER:|LAYER_CHANGE|CHANGE_LAYER)", re.I)
_TYPE = re.compile(rb";\s*(?:TYPE|FEATURE):\s*(.*)", re.I)
_SKIP_TYPES = (b"skirt", b"custom", b"wipe", b"prime", b"purge")
_MOVES = frozenset({b"G0", b"G1", b"G2", b"G3", b"G00", b"G01", b"G02", b"G03"})


def extrusion_segments(stream: IO[bytes], max_bytes: int = MAX_GCODE_BYTES) -> np.ndarray:
    """The extruding moves of a G-code stream, as an ``(n, 2, 3)`` float32 array of start/end points.

    Reads line by line (memory stays bounded), at most ``max_bytes``.
    """
    segs: list[tuple[float, float, float, float, float]] = []
    before_layers: list[tuple[float, float, float, float, float]] = []
    x = y = z = e = 0.0
    absolute_xyz = True
    absolute_e = True
    in_layers = False
    skipping = False
    consumed = 0
    for raw in stream:
        consumed += len(raw)
        if consumed > max_bytes:
            break
        line = raw.strip()
        if not line:
            continue
        if line[:1] == b";":
            if not in_layers and _LAYER.match(line):
                in_layers = True  # what came before (priming, purge lines) is left out
                continue
            m = _TYPE.match(line)
            if m:
                kind = m.group(1).lower()
                skipping = any(k in kind for k in _SKIP_TYPES)
            continue
        code, _, rest = line.partition(b";")[0].partition(b" ")
        code = code.upper()
        if code in _MOVES:
            nx, ny, nz, ne = x, y, z, e
            has_e = False
            for letter, value in _WORD.findall(rest.upper()):
                v = float(value)
                if letter == b"X":
                    nx = v if absolute_xyz else x + v
                elif letter == b"Y":
                    ny = v if absolute_xyz else y + v
                elif letter == b"Z":
                    nz = v if absolute_xyz else z + v
                else:
                    ne = v if absolute_e else e + v
                    has_e = True
            if has_e and ne > e and (nx != x or ny != y) and not skipping:
                (segs if in_layers else before_layers).append((x, y, nx, ny, nz))
            x, y, z, e = nx, ny, nz, ne
        elif code == b"G90":
            absolute_xyz = True
            absolute_e = True
        elif code == b"G91":
            absolute_xyz = False
            absolute_e = False
        elif code == b"M82":
            absolute_e = True
        elif code == b"M83":
            absolute_e = False
        elif code == b"G92":
            for letter, value in _WORD.findall(rest.upper()):
                v = float(value)
                if letter == b"X":
                    x = v
                elif letter == b"Y":
                    y = v
                elif letter == b"Z":
                    z = v
                else:
                    e = v
    if not in_layers:  # no layer markers at all: every extrusion counts
        segs = before_layers
    if not segs:
        return np.zeros((0, 2, 3), dtype=np.float32)
    arr = np.asarray(segs, dtype=np.float32)
    out = np.empty((len(arr), 2, 3), dtype=np.float32)
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
    out[:, 0, 2] = out[:, 1, 2] = arr[:, 4]
    return out


def segments_to_triangles(segments: np.ndarray) -> np.ndarray:
    """Turn extrusion segments into boxes (top and both sides): ``(6n, 3, 3)`` triangles."""
    if len(segments) == 0:
        raise ThumbnailError("the G-code has no extrusion moves to draw")
    if len(segments) > MAX_SEGMENTS:
        keep = np.linspace(0, len(segments) - 1, MAX_SEGMENTS).astype(np.int64)
        segments = segments[keep]
    z = segments[:, 0, 2]
    levels = np.unique(z)
    steps = np.diff(levels)
    steps = steps[steps > 1e-4]
    layer = float(np.median(steps)) if len(steps) else 0.2
    layer = min(max(layer, 0.05), 1.0)
    half = max(layer * WIDTH_FACTOR, 0.3) / 2
    p0 = segments[:, 0, :2]
    p1 = segments[:, 1, :2]
    d = p1 - p0
    length = np.sqrt((d * d).sum(axis=1))
    length[length == 0] = 1
    side = np.stack([-d[:, 1], d[:, 0]], axis=1) / length[:, None] * half
    top = z[:, None]
    bottom = top - layer

    def corner(p: np.ndarray, sign: float, h: np.ndarray) -> np.ndarray:
        return np.concatenate([p + sign * side, h], axis=1)

    a_t, b_t = corner(p0, 1, top), corner(p1, 1, top)
    c_t, d_t = corner(p1, -1, top), corner(p0, -1, top)
    a_b, b_b = corner(p0, 1, bottom), corner(p1, 1, bottom)
    c_b, d_b = corner(p1, -1, bottom), corner(p0, -1, bottom)
    tris = np.stack(
        [
            np.stack([a_t, b_t, c_t], axis=1), np.stack([a_t, c_t, d_t], axis=1),  # top
            np.stack([a_t, a_b, b_b], axis=1), np.stack([a_t, b_b, b_t], axis=1),  # left side
            np.stack([d_t, c_b, d_b], axis=1), np.stack([d_t, c_t, c_b], axis=1),  # right side
        ],
        axis=1,
    )
    return tris.reshape(-1, 3, 3).astype(np.float32)


def toolpath_triangles(stream: IO[bytes]) -> np.ndarray:
    """Triangles picturing the toolpath of a text G-code stream.

    :raises ThumbnailError: the stream has no extrusion moves.
    """
    return segments_to_triangles(extrusion_segments(stream))
