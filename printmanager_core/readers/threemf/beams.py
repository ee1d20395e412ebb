"""The 3MF beam-lattice extension: beams read from a model part, and drawn.

Beams have no triangles: the build's measures cover triangle meshes only and
the beams are counted (``meta['beams']``); for a thumbnail each beam is drawn
as a square prism of its radius.
"""

from __future__ import annotations

import numpy as np

from ..base import ReadError

__all__ = ["BEAMLATTICE_NS", "beam_table", "prisms"]

BEAMLATTICE_NS = "http://schemas.microsoft.com/3dmanufacturing/beamlattice/2017/02"


def beam_table(
    rows: list[tuple[str | None, str | None, str | None, str | None]], radius: str | None, part: str
) -> np.ndarray:
    """Beams as an ``(n, 4)`` array of v1, v2, r1, r2 (r1 defaults to the lattice radius, r2 to r1)."""
    table = []
    try:
        default = float(radius) if radius else 1.0
        for v1, v2, r1, r2 in rows:
            start = float(r1) if r1 else default
            table.append((int(v1 or -1), int(v2 or -1), start, float(r2) if r2 else start))
    except ValueError:
        raise ReadError(f"{part}: a beam has a value that is not a number") from None
    return np.array(table, dtype=np.float64).reshape(-1, 4)


def prisms(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Square prisms around segments a→b (half-width ra at a, rb at b): ``(8n, 3, 3)`` triangles."""
    d = b - a
    length = np.linalg.norm(d, axis=1)
    length[length == 0] = 1
    d = d / length[:, None]
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u, axis=1)[:, None]
    v = np.cross(d, u)
    signs = ((1, 1), (-1, 1), (-1, -1), (1, -1))
    corners_a = [a + ra[:, None] * (su * u + sv * v) for su, sv in signs]
    corners_b = [b + rb[:, None] * (su * u + sv * v) for su, sv in signs]
    tris = []
    for k in range(4):
        k2 = (k + 1) % 4
        tris.append(np.stack([corners_a[k], corners_a[k2], corners_b[k2]], axis=1))
        tris.append(np.stack([corners_a[k], corners_b[k2], corners_b[k]], axis=1))
    return np.concatenate(tris, axis=0)
