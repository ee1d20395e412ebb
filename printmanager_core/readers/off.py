"""OFF (Object File Format: Geomview, CGAL, Meshlab) reader, ASCII.

The header keyword is ``OFF``, optionally with the prefixes ``ST`` (texture
coordinates), ``C`` (colours) and ``N`` (normals) — extra values on each vertex
line, which are ignored. The counts (vertices, faces, edges) follow on the same
line or the next; then one vertex per line (x y z first) and one face per line
(``k i1 .. ik``, an optional colour after). ``#`` starts a comment. Polygons are
fan-triangulated. ``4OFF``/``nOFF`` (other dimensions) and ``OFF BINARY`` are
refused in one line; a file that does not start with an OFF keyword is not an
OFF file (the reader declines it).

The declared counts are checked against the lines the file has before anything
is allocated.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import budget
from ..hookspecs import hookimpl
from .base import Limits, NotThisFormat, ReadError
from .mesh import IndexedMeshReader

__all__ = ["OffReader", "parse_off"]

_KEYWORD = re.compile(rb"^(ST)?(C)?(N)?(4)?(n)?OFF(?:\s+(BINARY))?(?=\s|$)")
_COMMENT = re.compile(rb"#[^\n]*")


def parse_off(data: bytes, limits: Limits) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Vertices ``(m, 3)``, triangles ``(n, 3)``, meta and problems of an OFF file.

    :raises NotThisFormat: the file does not start with an OFF keyword.
    :raises ReadError: binary or non-3D OFF, bad counts, truncated, malformed, an index out of range.
    """
    text = data.lstrip()
    m = _KEYWORD.match(text)
    if m is None:
        raise NotThisFormat("not an OFF file: it does not start with 'OFF'")
    if m.group(6):
        raise ReadError("binary OFF files are not supported")
    if m.group(4) or m.group(5):
        raise ReadError("only 3D OFF files are supported (this is 4OFF or nOFF)")
    body = text[m.end():]
    if b"#" in body:
        body = _COMMENT.sub(b"", body)
    lines = [ln for ln in (raw.strip() for raw in body.split(b"\n")) if ln]
    if not lines:
        raise ReadError("OFF file has no vertex and face counts")
    counts = lines[0].split()
    try:
        nv, nf = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        raise ReadError(f"OFF counts line is not 'vertices faces edges': {lines[0][:60].decode('latin-1')!r}") from None
    if nv < 0 or nf < 0:
        raise ReadError(f"OFF declares negative counts ({nv} vertices, {nf} faces)")
    if nv + nf > len(lines) - 1:
        raise ReadError(
            f"truncated OFF: it declares {nv} vertices and {nf} faces but has {len(lines) - 1} lines after the counts"
        )
    if nf > limits.max_triangles:
        raise ReadError(f"the OFF declares {nf} faces, more than the limit of {limits.max_triangles}")
    vertices = _vertices(lines[1 : 1 + nv])
    faces, short = _faces(lines[1 + nv : 1 + nv + nf])
    problems: list[str] = []
    if short:
        problems.append(f"{short} OFF faces with fewer than 3 corners were skipped")
    if len(lines) > 1 + nv + nf:
        problems.append(f"OFF has {len(lines) - 1 - nv - nf} lines after its last face")
    if len(faces) == 0:
        raise ReadError("the OFF has no faces")
    if int(faces.min()) < 0 or int(faces.max()) >= nv:
        bad = int(faces.min()) if int(faces.min()) < 0 else int(faces.max())
        raise ReadError(f"an OFF face refers to vertex {bad}, but the file has {nv} vertices")
    meta = {"vertices": nv, "faces": nf}
    return vertices, faces, meta, problems


def _vertices(lines: list[bytes]) -> np.ndarray:
    if not lines:
        return np.empty((0, 3))
    try:
        values = np.fromstring(b" ".join(lines), dtype=np.float64, sep=" ")
    except ValueError:
        values = np.empty(0)
    if values.size == 3 * len(lines):
        return values.reshape(-1, 3)
    # extra values per vertex (colours, normals, texture coordinates): x y z of each line
    out = np.empty((len(lines), 3))
    for i, line in enumerate(lines):
        parts = line.split()[:3]
        try:
            if len(parts) != 3:
                raise ValueError
            out[i] = [float(p) for p in parts]
        except ValueError:
            raise ReadError(f"OFF vertex {i} is not three numbers: {line[:60].decode('latin-1')!r}") from None
        if i % 65536 == 0:
            budget.check()
    return out


def _faces(lines: list[bytes]) -> tuple[np.ndarray, int]:
    """Fan-triangulated faces and the number of faces with fewer than 3 corners."""
    if not lines:
        return np.empty((0, 3), np.int64), 0
    # fast path: every face has the same corner count and nothing else
    first = lines[0].split()
    try:
        k = int(first[0])
    except (IndexError, ValueError):
        raise ReadError(f"OFF face 0 does not start with its corner count: {lines[0][:60].decode('latin-1')!r}") from None
    if k >= 3 and len(first) == k + 1:
        try:
            table = np.fromstring(b" ".join(lines), dtype=np.int64, sep=" ")
        except ValueError:
            table = np.empty(0, np.int64)
        if table.size == len(lines) * (k + 1):
            table = table.reshape(-1, k + 1)
            if (table[:, 0] == k).all():
                return _fan(table[:, 1:]), 0
    tris: list[np.ndarray] = []
    short = 0
    for i, line in enumerate(lines):
        parts = line.split()
        try:
            k = int(parts[0])
            corners = [int(p) for p in parts[1 : 1 + k]]
        except (IndexError, ValueError):
            raise ReadError(f"OFF face {i} is not 'k i1 .. ik': {line[:60].decode('latin-1')!r}") from None
        if k < 0 or len(corners) != k:
            raise ReadError(f"OFF face {i} says {k} corners but lists {len(corners)}")
        if k < 3:
            short += 1
            continue
        if max(corners) >= 2**62 or min(corners) < 0:
            raise ReadError(f"OFF face {i} names vertex {max(corners) if min(corners) >= 0 else min(corners)}, "
                            "which does not exist")
        tris.append(_fan(np.asarray(corners, dtype=np.int64).reshape(1, -1)))
        if i % 65536 == 0:
            budget.check()
    return (np.concatenate(tris) if tris else np.empty((0, 3), np.int64)), short


def _fan(polys: np.ndarray) -> np.ndarray:
    n, k = polys.shape
    if k == 3:
        return polys
    parts = [np.stack((polys[:, 0], polys[:, j], polys[:, j + 1]), axis=1) for j in range(1, k - 1)]
    return np.stack(parts, axis=1).reshape(-1, 3)


class OffReader(IndexedMeshReader):
    """OFF (Object File Format) meshes."""

    name = "off"
    extensions = (".off",)

    def parse(self, data: bytes, limits: Limits) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
        """Vertices, triangulated faces, metadata and problems of OFF bytes."""
        return parse_off(data, limits)


@hookimpl
def register_readers(register: Any) -> None:
    """The OFF reader."""
    register(OffReader())
