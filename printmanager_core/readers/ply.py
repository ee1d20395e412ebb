"""PLY reader: ``ascii``, ``binary_little_endian`` and ``binary_big_endian``.

The header's elements are read in order; ``vertex`` (x, y, z) and ``face``
(a list property ``vertex_indices`` or ``vertex_index``) are kept, any other
element is skipped. Polygons are fan-triangulated. Every count in the header is
checked against the bytes that follow before anything is allocated, so a
header claiming a billion vertices in a small file is refused at once.

Binary elements are read with numpy structured dtypes; a face element whose
rows all have the same corner count (the usual case) is read in one step, a
mixed one row by row. ASCII bodies are split into tokens once and converted by
numpy.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import attrs
import numpy as np

from .. import budget
from ..hookspecs import hookimpl
from .base import Limits, ReadError
from .mesh import IndexedMeshReader

__all__ = ["PlyReader", "parse_ply"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FACE_LISTS = ("vertex_indices", "vertex_index")
_MAX_HEADER = 64 * 1024
_END_HEADER = re.compile(rb"end_header[ \t]*(\r\n|\n|\r)")


@attrs.define
class _Property:
    name: str
    type: str  # numpy type code without byte order
    count_type: str | None = None  # set for list properties


@attrs.define
class _Element:
    name: str
    count: int
    properties: list[_Property] = attrs.field(factory=list)

    @property
    def has_list(self) -> bool:
        return any(p.count_type for p in self.properties)


def _parse_header(data: bytes) -> tuple[str, list[_Element], int, list[str], list[str]]:
    """Format, elements, offset of the body, comments, problems.

    A header line with a keyword the PLY format does not define (Blender writes
    ``Created by Blender3D ...`` without ``comment``) is skipped and noted as a
    problem, as other tools skip it; a malformed ``format``, ``element`` or
    ``property`` line is still an error.
    """
    if not data.startswith(b"ply"):
        raise ReadError("not a PLY file: it does not start with 'ply'")
    m = _END_HEADER.search(data, 0, _MAX_HEADER)
    if m is None:
        raise ReadError("PLY header has no 'end_header' line in its first 64 KiB")
    header = data[: m.start()].decode("ascii", errors="replace")
    body = m.end()
    fmt = None
    elements: list[_Element] = []
    comments: list[str] = []
    problems: list[str] = []
    unknown: list[str] = []
    for number, raw in enumerate(header.splitlines()[1:], start=2):
        words = raw.split()
        if not words:
            continue
        key = words[0]
        if key == "format":
            if len(words) < 2 or words[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise ReadError(f"PLY header line {number}: unknown format {raw.strip()!r}")
            fmt = words[1]
        elif key == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise ReadError(f"PLY header line {number}: bad element line {raw.strip()!r}")
            elements.append(_Element(words[1], int(words[2])))
        elif key == "property":
            if not elements:
                raise ReadError(f"PLY header line {number}: property before any element")
            if len(words) == 5 and words[1] == "list":
                ctype, itype = _TYPES.get(words[2]), _TYPES.get(words[3])
                if ctype is None or itype is None or ctype[0] == "f":
                    raise ReadError(f"PLY header line {number}: bad list property {raw.strip()!r}")
                elements[-1].properties.append(_Property(words[4], itype, ctype))
            elif len(words) == 3 and words[1] in _TYPES:
                elements[-1].properties.append(_Property(words[2], _TYPES[words[1]]))
            else:
                raise ReadError(f"PLY header line {number}: bad property {raw.strip()!r}")
        elif key in ("comment", "obj_info"):
            comments.append(raw.strip())
        else:
            unknown.append(f"line {number} ({key[:40]!r})")
    if fmt is None:
        raise ReadError("PLY header has no 'format' line")
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        problems.append(f"PLY header lines with an unknown keyword were skipped: {shown}")
    return fmt, elements, body, comments, problems


# --- binary ----------------------------------------------------------------


def _fixed_dtype(element: _Element, order: str, list_counts: dict[str, int] | None = None) -> np.dtype:
    fields = []
    for i, p in enumerate(element.properties):
        if p.count_type:
            assert list_counts is not None
            fields.append((f"n{i}", order + p.count_type))
            fields.append((f"p{i}", order + p.type, (list_counts[p.name],)))
        else:
            fields.append((f"p{i}", order + p.type))
    return np.dtype(fields)


def _read_binary_element(
    data: bytes, pos: int, element: _Element, order: str, keep: bool
) -> tuple[Any, int]:
    """Read one element's rows at ``pos``; returns (structured array / list rows, new pos)."""
    n = element.count
    remaining = len(data) - pos
    if not element.has_list:
        dt = _fixed_dtype(element, order)
        need = n * dt.itemsize
        if need > remaining:
            raise ReadError(f"truncated PLY: element {element.name!r} needs {need} bytes, {remaining} left")
        rows = np.frombuffer(data, dtype=dt, count=n, offset=pos) if keep else None
        return rows, pos + need
    # lower bound: every list could be empty
    min_row = sum(np.dtype(p.count_type or p.type).itemsize for p in element.properties)
    if n * min_row > remaining:
        raise ReadError(f"truncated PLY: element {element.name!r} declares {n} rows, the file is too short")
    if n == 0:
        return [], pos
    # fast path: the first row's list lengths hold for every row
    counts: dict[str, int] = {}
    p = pos
    for prop in element.properties:
        if prop.count_type:
            cdt = np.dtype(order + prop.count_type)
            if p + cdt.itemsize > len(data):
                raise ReadError(f"truncated PLY in element {element.name!r}")
            k = int(np.frombuffer(data, dtype=cdt, count=1, offset=p)[0])
            if k < 0:
                raise ReadError(f"malformed PLY: negative list length in element {element.name!r}")
            counts[prop.name] = k
            p += cdt.itemsize + k * np.dtype(prop.type).itemsize
        else:
            p += np.dtype(prop.type).itemsize
    dt = _fixed_dtype(element, order, counts)
    if n * dt.itemsize <= remaining:
        rows = np.frombuffer(data, dtype=dt, count=n, offset=pos)
        same = all(
            (rows[f"n{i}"] == counts[prop.name]).all()
            for i, prop in enumerate(element.properties)
            if prop.count_type
        )
        if same:
            return rows, pos + n * dt.itemsize
    return _read_binary_rows(data, pos, element, order, keep)


def _read_binary_rows(data: bytes, pos: int, element: _Element, order: str, keep: bool) -> tuple[Any, int]:
    """Row by row, for list lengths that vary. Keeps only the face index lists."""
    structs = []
    for prop in element.properties:
        if prop.count_type:
            structs.append((prop, struct.Struct(_struct_code(order, prop.count_type)), np.dtype(order + prop.type)))
        else:
            structs.append((prop, struct.Struct(_struct_code(order, prop.type)), None))
    lists: list[np.ndarray] = []
    size = len(data)
    try:
        for row in range(element.count):
            if row % 65536 == 65535:
                budget.check()
            for prop, st, item in structs:
                if item is None:
                    pos += st.size
                    continue
                (k,) = st.unpack_from(data, pos)
                pos += st.size
                end = pos + k * item.itemsize
                if k < 0 or end > size:
                    raise ReadError(f"truncated PLY in element {element.name!r}")
                if keep and prop.name in _FACE_LISTS:
                    lists.append(np.frombuffer(data, dtype=item, count=k, offset=pos))
                pos = end
    except struct.error:
        raise ReadError(f"truncated PLY in element {element.name!r}") from None
    if pos > size:
        raise ReadError(f"truncated PLY in element {element.name!r}")
    return lists, pos


def _struct_code(order: str, code: str) -> str:
    return ("<" if order == "<" else ">") + {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i",
                                             "u4": "I", "f4": "f", "f8": "d"}[code]


# --- ascii -----------------------------------------------------------------


def _read_ascii_element(tokens: list[bytes], pos: int, element: _Element) -> tuple[Any, int]:
    """Read one element's rows from the token list; returns (rows, new pos).

    rows is an (n, k) float array for fixed elements, or a list of index arrays
    (face lists) for elements with a list property.
    """
    n = element.count
    if not element.has_list:
        width = len(element.properties)
        end = pos + n * width
        if end > len(tokens):
            raise ReadError(f"truncated PLY: element {element.name!r} needs {n} rows")
        return _numbers(tokens[pos:end], element.name).reshape(n, width), end
    if n == 0:
        return [], pos
    # fast path: a single list property, every row the same length
    if len(element.properties) == 1:
        try:
            k = int(tokens[pos])
        except (IndexError, ValueError):
            raise ReadError(f"malformed PLY: element {element.name!r} row 1 has no list length") from None
        end = pos + n * (k + 1)
        if k >= 0 and end <= len(tokens):
            table = _numbers(tokens[pos:end], element.name).reshape(n, k + 1)
            if (table[:, 0] == k).all():
                return table[:, 1:], end
    lists: list[np.ndarray] = []
    size = len(tokens)
    for row in range(n):
        if row % 65536 == 65535:
            budget.check()
        for prop in element.properties:
            if pos >= size:
                raise ReadError(f"truncated PLY: element {element.name!r} row {row + 1}")
            if prop.count_type:
                try:
                    k = int(tokens[pos])
                except ValueError:
                    raise ReadError(f"malformed PLY: bad list length in element {element.name!r} row {row + 1}") from None
                if k < 0 or pos + 1 + k > size:
                    raise ReadError(f"truncated PLY: element {element.name!r} row {row + 1}")
                if prop.name in _FACE_LISTS:
                    lists.append(_numbers(tokens[pos + 1 : pos + 1 + k], element.name))
                pos += 1 + k
            else:
                pos += 1
    return lists, pos


def _numbers(tokens: list[bytes], where: str) -> np.ndarray:
    if not tokens:
        return np.empty(0)
    try:
        values = np.fromstring(b" ".join(tokens), dtype=np.float64, sep=" ")
    except ValueError:
        values = np.empty(0)
    if values.size != len(tokens):
        raise ReadError(f"malformed PLY: a value in element {where!r} is not a number")
    return values


# --- assembly --------------------------------------------------------------


def _triangulate(lists: Any, element: _Element, problems: list[str]) -> np.ndarray:
    """(n, 3) int64 triangles from face rows (structured array or list of index arrays)."""
    if isinstance(lists, np.ndarray):
        if lists.dtype.names:  # binary fast path: structured rows
            i = next(i for i, p in enumerate(element.properties) if p.name in _FACE_LISTS)
            return _fan(np.asarray(lists[f"p{i}"], dtype=np.int64), problems)
        return _fan(_as_indices(lists), problems)  # ascii fast path: (n, k) numbers
    if not lists:
        return np.empty((0, 3), np.int64)
    lengths = {len(a) for a in lists}
    if len(lengths) == 1:
        return _fan(_as_indices(np.stack(lists)), problems)
    out = []
    short = 0
    for poly in lists:
        if len(poly) < 3:
            short += 1
            continue
        p = _as_indices(poly)
        out.append(np.stack((np.full(len(p) - 2, p[0]), p[1:-1], p[2:]), axis=1))
    if short:
        problems.append(f"{short} PLY faces with fewer than 3 corners were skipped")
    return np.concatenate(out) if out else np.empty((0, 3), np.int64)


def _as_indices(values: np.ndarray) -> np.ndarray:
    """Face indices as int64; refuses non-integral values (ASCII files)."""
    if values.dtype.kind == "f":
        if not np.array_equal(values, np.floor(values)):
            raise ReadError("malformed PLY: a face vertex index is not a whole number")
    return values.astype(np.int64)


def _fan(polys: np.ndarray, problems: list[str]) -> np.ndarray:
    n, k = polys.shape
    if k < 3:
        if n:
            problems.append(f"{n} PLY faces with fewer than 3 corners were skipped")
        return np.empty((0, 3), np.int64)
    if k == 3:
        return polys
    parts = [np.stack((polys[:, 0], polys[:, j], polys[:, j + 1]), axis=1) for j in range(1, k - 1)]
    return np.stack(parts, axis=1).reshape(-1, 3)


def parse_ply(data: bytes, limits: Limits) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Vertices ``(m, 3)``, triangles ``(n, 3)``, meta and problems of a PLY file.

    :raises ReadError: not a PLY, a bad header, truncated data, no faces.
    """
    fmt, elements, pos, comments, problems = _parse_header(data)
    names = [e.name for e in elements]
    if "vertex" not in names:
        raise ReadError("the PLY has no 'vertex' element")
    if "face" not in names:
        raise ReadError("the PLY has no 'face' element (a point cloud?)")
    vertex_el = elements[names.index("vertex")]
    face_el = elements[names.index("face")]
    prop_names = [p.name for p in vertex_el.properties]
    if vertex_el.has_list:
        raise ReadError("the PLY 'vertex' element has a list property; not supported")
    if not {"x", "y", "z"} <= set(prop_names) or any(p.count_type for p in vertex_el.properties
                                                       if p.name in "xyz"):
        raise ReadError("the PLY 'vertex' element has no x, y and z")
    if not any(p.name in _FACE_LISTS and p.count_type for p in face_el.properties):
        raise ReadError("the PLY 'face' element has no vertex_indices list")
    if face_el.count > limits.max_triangles:
        raise ReadError(f"the PLY declares {face_el.count} faces, more than the limit of {limits.max_triangles}")

    vertices = faces = None
    if fmt == "ascii":
        tokens = data[pos:].split()
        tpos = 0
        for element in elements:
            rows, tpos = _read_ascii_element(tokens, tpos, element)
            if element is vertex_el:
                vertices = rows[:, [prop_names.index(c) for c in "xyz"]]
            elif element is face_el:
                faces = _triangulate(rows, element, problems)
        if tpos < len(tokens):
            problems.append(f"PLY has {len(tokens) - tpos} values after its last element")
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        for element in elements:
            keep = element is vertex_el or element is face_el
            rows, pos = _read_binary_element(data, pos, element, order, keep)
            if element is vertex_el:
                vertices = np.stack(
                    [rows[f"p{prop_names.index(c)}"].astype(np.float64) for c in "xyz"], axis=1
                )
            elif element is face_el:
                faces = _triangulate(rows, element, problems)
        if pos < len(data):
            problems.append(f"PLY has {len(data) - pos} bytes after its last element")
    assert vertices is not None and faces is not None
    if len(faces) == 0:
        raise ReadError("the PLY has no faces")
    meta: dict[str, Any] = {"encoding": fmt, "vertices": int(vertex_el.count), "faces": int(face_el.count)}
    return vertices, faces, meta, problems


class PlyReader(IndexedMeshReader):
    """PLY (Stanford polygon) meshes."""

    name = "ply"
    extensions = (".ply",)

    def parse(self, data: bytes, limits: Limits) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
        """Vertices, triangulated faces, metadata and problems of PLY bytes."""
        return parse_ply(data, limits)


@hookimpl
def register_readers(register: Any) -> None:
    """The PLY reader."""
    register(PlyReader())
