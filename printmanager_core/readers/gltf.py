"""glTF 2.0 reader: binary ``.glb`` and JSON ``.gltf``, parsed here with numpy.

What is measured is the **scene** as placed: the default scene's (else the
first scene's, else every root node's) node tree, each node's ``matrix`` or
``translation``/``rotation``/``scale`` composed onto its parent's, every mesh
primitive drawn as triangles (``TRIANGLES``, ``TRIANGLE_STRIP`` and
``TRIANGLE_FAN``; points and lines are skipped) with its node's transform
applied — as trimesh places them. Each placed primitive is a part: triangles,
area and box add up; the file is watertight when every part is (see
:mod:`.mesh`), and only then has a volume. Coordinates are taken as
millimetres, like STL's (the glTF specification says metres; 3D-printing
exports write millimetre values), which is also what trimesh reports.

Bounds: every accessor is checked against its buffer view and buffer before
anything is read (a count that does not fit the bytes is refused at once);
sparse accessors and non-float positions are refused; node cycles and
placements past ``Limits.max_triangles`` are refused. A ``.gltf``'s external
buffers (``"uri": "mesh.bin"``) are read only from the file's own folder (no
``..``, no absolute paths, no links out of it); ``data:`` URIs are decoded.
A ``.glb`` without the glTF magic, or a ``.gltf`` that is not a JSON object, is
declined (:class:`~.base.NotThisFormat`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
import struct
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import numpy as np

from .. import budget
from ..hookspecs import hookimpl
from .base import Limits, NotThisFormat, ReadError, ReadResult, Source
from .mesh import MeshMetrics, check_faces, measure_indexed, read_all

__all__ = ["GltfReader"]

GLB_MAGIC = 0x46546C67
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
#: component type -> numpy dtype (little-endian)
COMPONENTS = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
MODE_TRIANGLES, MODE_STRIP, MODE_FAN = 4, 5, 6
#: most nodes visited while placing meshes (instancing bombs), and deepest node nesting
MAX_PLACEMENTS = 100_000
MAX_DEPTH = 256


class _Document:
    """A parsed glTF: its JSON and the bytes of its buffers (loaded on first use)."""

    def __init__(self, doc: dict[str, Any], binary: bytes | None, folder: Path | None, limits: Limits,
                 name: str) -> None:
        self.doc = doc
        self.binary = binary
        self.folder = folder
        self.limits = limits
        self.name = name
        self.buffers: dict[int, bytes] = {}
        self.problems: list[str] = []

    def items(self, key: str) -> list[Any]:
        value = self.doc.get(key, [])
        if not isinstance(value, list):
            raise ReadError(f"glTF '{key}' is not a list")
        return value

    def item(self, key: str, index: Any, where: str) -> dict[str, Any]:
        items = self.items(key)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
            raise ReadError(f"glTF {where} names {key} {index!r}, which does not exist")
        value = items[index]
        if not isinstance(value, dict):
            raise ReadError(f"glTF {key} {index} is not an object")
        return value

    def buffer(self, index: int) -> bytes:
        if index in self.buffers:
            return self.buffers[index]
        info = self.item("buffers", index, "a buffer view")
        length = _int(info.get("byteLength"), f"buffer {index} byteLength")
        uri = info.get("uri")
        if uri is None:
            if self.binary is None:
                raise ReadError(f"glTF buffer {index} has no uri and the file has no binary chunk")
            data = self.binary
        elif not isinstance(uri, str):
            raise ReadError(f"glTF buffer {index} uri is not a string")
        elif uri.startswith("data:"):
            data = _data_uri(uri, index, self.limits)
        else:
            data = self._external(uri, index, length)
        if len(data) < length:
            raise ReadError(f"glTF buffer {index} declares {length} bytes but has {len(data)}")
        self.buffers[index] = data
        return data

    def _external(self, uri: str, index: int, length: int) -> bytes:
        if self.folder is None:
            raise ReadError(f"glTF buffer {index} is an external file ({uri[:80]!r}), which is not available here")
        name = unquote(uri)
        if "\0" in name or os.path.isabs(name) or name.replace("\\", "/").startswith("/") or ":" in name:
            raise ReadError(f"glTF buffer {index} names {uri[:80]!r}: only files beside the .gltf are read")
        folder = os.path.realpath(self.folder)
        target = os.path.realpath(os.path.join(folder, name))
        if os.path.dirname(target) != folder:
            raise ReadError(f"glTF buffer {index} names {uri[:80]!r}, outside the folder of the .gltf")
        try:
            with open(target, "rb", opener=_nonblocking) as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise ReadError(f"glTF buffer {index} ({uri[:80]!r}) is not a regular file")
                if st.st_size > self.limits.max_read_bytes:
                    raise ReadError(f"glTF buffer {index} is {st.st_size} bytes, more than the "
                                    f"{self.limits.max_read_bytes}-byte limit")
                return fh.read(max(length, 0) + 1)[:length]
        except OSError as exc:
            raise ReadError(f"glTF buffer {index} ({uri[:80]!r}) cannot be read: {exc.strerror or exc}") from None

    def accessor(self, index: Any, where: str, kinds: tuple[str, ...]) -> np.ndarray:
        """The accessor's elements as an ``(count, width)`` array, bounds-checked before reading."""
        acc = self.item("accessors", index, where)
        if "sparse" in acc:
            raise ReadError(f"glTF accessor {index} is sparse, which is not supported")
        kind = acc.get("type")
        if kind not in kinds:
            raise ReadError(f"glTF accessor {index} is {kind!r}, not {' or '.join(kinds)}")
        ctype = acc.get("componentType")
        if ctype not in COMPONENTS:
            raise ReadError(f"glTF accessor {index} has unknown componentType {ctype!r}")
        dtype = np.dtype(COMPONENTS[ctype])
        width = WIDTHS[kind]
        count = _int(acc.get("count"), f"accessor {index} count")
        element = dtype.itemsize * width
        if "bufferView" not in acc:
            if count > self.limits.max_triangles * 3:
                raise ReadError(f"glTF accessor {index} declares {count} elements and no data")
            return np.zeros((count, width), dtype=dtype)
        view = self.item("bufferViews", acc["bufferView"], f"accessor {index}")
        buffer = self.buffer(_int(view.get("buffer"), f"bufferView {acc['bufferView']} buffer"))
        view_offset = _int(view.get("byteOffset", 0), "bufferView byteOffset")
        view_length = _int(view.get("byteLength"), "bufferView byteLength")
        stride = _int(view.get("byteStride", 0), "bufferView byteStride") or element
        offset = _int(acc.get("byteOffset", 0), f"accessor {index} byteOffset")
        if view_offset + view_length > len(buffer):
            raise ReadError(f"glTF bufferView {acc['bufferView']} runs past the end of its buffer")
        if stride < element:
            raise ReadError(f"glTF bufferView {acc['bufferView']} byteStride {stride} is less than its "
                            f"{element}-byte elements")
        need = 0 if count == 0 else offset + stride * (count - 1) + element
        if need > view_length:
            raise ReadError(
                f"glTF accessor {index} declares {count} elements ({need} bytes) but its buffer view has "
                f"{view_length} bytes"
            )
        if count == 0:
            return np.zeros((0, width), dtype=dtype)
        start = view_offset + offset
        if stride == element:
            return np.frombuffer(buffer, dtype=dtype, count=count * width, offset=start).reshape(count, width)
        rows = np.frombuffer(buffer, dtype=np.uint8, count=need - offset, offset=start)
        table = np.lib.stride_tricks.as_strided(rows, shape=(count, element), strides=(stride, 1))
        return np.ascontiguousarray(table).view(dtype).reshape(count, width)


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReadError(f"glTF {where} is not a whole number >= 0: {str(value)[:40]!r}")
    return value


def _data_uri(uri: str, index: int, limits: Limits) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise ReadError(f"glTF buffer {index} is a data URI that is not base64")
    if len(payload) * 3 // 4 > limits.max_read_bytes:
        raise ReadError(f"glTF buffer {index} data URI is larger than the {limits.max_read_bytes}-byte limit")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ReadError(f"glTF buffer {index} data URI is not valid base64") from None


def _parse_glb(data: bytes) -> tuple[bytes, bytes | None]:
    """The JSON and binary chunks of a GLB."""
    if len(data) < 12 or struct.unpack_from("<I", data, 0)[0] != GLB_MAGIC:
        raise NotThisFormat("not a binary glTF (GLB) file: no 'glTF' magic")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise ReadError(f"GLB version {version} is not supported (only glTF 2.0)")
    if length > len(data):
        raise ReadError(f"truncated GLB: the header declares {length} bytes, the file has {len(data)}")
    pos = 12
    json_chunk: bytes | None = None
    binary: bytes | None = None
    while pos + 8 <= length:
        size, kind = struct.unpack_from("<II", data, pos)
        end = pos + 8 + size
        if end > length:
            raise ReadError(f"truncated GLB: a chunk declares {size} bytes past the end of the file")
        if kind == CHUNK_JSON and json_chunk is None:
            json_chunk = data[pos + 8 : end]
        elif kind == CHUNK_BIN and binary is None:
            binary = data[pos + 8 : end]
        pos = end + (-end % 4)
    if json_chunk is None:
        raise ReadError("GLB has no JSON chunk")
    return json_chunk, binary


def _load(source: Source) -> _Document:
    data = read_all(source)
    if not data.strip():
        raise ReadError("empty file")
    binary = None
    if source.name.lower().endswith(".glb"):
        text, binary = _parse_glb(data)
    else:
        text = data
        if not text.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            raise NotThisFormat("not a glTF file: it is not a JSON object")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ReadError("glTF JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReadError(f"glTF JSON is malformed: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict):
        if source.name.lower().endswith(".gltf"):
            raise NotThisFormat("not a glTF file: the JSON has no 'asset'")
        raise ReadError("GLB JSON has no 'asset'")
    version = str(doc["asset"].get("version", ""))
    if not version.startswith("2"):
        raise ReadError(f"glTF version {version[:20]!r} is not supported (only 2.0)")
    folder = source.path.parent if source.path is not None else None
    return _Document(doc, binary, folder, source.limits, source.name)


# --- the scene --------------------------------------------------------------------


def _node_matrix(node: dict[str, Any], index: int) -> np.ndarray:
    """A node's local transform (4x4, column vectors)."""
    try:
        if "matrix" in node:
            m = np.asarray(node["matrix"], dtype=np.float64)
            if m.shape != (16,):
                raise ValueError
            return m.reshape(4, 4).T  # glTF matrices are column-major
        out = np.eye(4)
        if "scale" in node:
            s = np.asarray(node["scale"], dtype=np.float64)
            if s.shape != (3,):
                raise ValueError
            out = np.diag([*s, 1.0]) @ out
        if "rotation" in node:
            x, y, z, w = np.asarray(node["rotation"], dtype=np.float64)
            r = np.array([
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ])
            rot = np.eye(4)
            rot[:3, :3] = r
            out = rot @ out
        if "translation" in node:
            t = np.asarray(node["translation"], dtype=np.float64)
            if t.shape != (3,):
                raise ValueError
            move = np.eye(4)
            move[:3, 3] = t
            out = move @ out
    except (TypeError, ValueError):
        raise ReadError(f"glTF node {index} has a malformed transform") from None
    if not np.isfinite(out).all():
        raise ReadError(f"glTF node {index} has a transform that is not finite")
    return out


def _roots(doc: _Document) -> list[int]:
    scenes = doc.items("scenes")
    if scenes:
        which = doc.doc.get("scene", 0)
        scene = doc.item("scenes", which, "the document")
        nodes = scene.get("nodes", [])
        if not isinstance(nodes, list):
            raise ReadError("glTF scene nodes is not a list")
        return nodes
    children: set[int] = set()
    for node in doc.items("nodes"):
        if isinstance(node, dict) and isinstance(node.get("children"), list):
            children.update(c for c in node["children"] if isinstance(c, int))
    return [i for i in range(len(doc.items("nodes"))) if i not in children]


def _placements(doc: _Document) -> Iterator[tuple[int, np.ndarray]]:
    """Every (mesh index, world transform) of the scene."""
    visits = 0
    stack: list[tuple[int, np.ndarray, tuple[int, ...]]] = [(r, np.eye(4), ()) for r in reversed(_roots(doc))]
    while stack:
        index, parent, path = stack.pop()
        visits += 1
        if visits > MAX_PLACEMENTS:
            raise ReadError(f"the glTF scene has more than {MAX_PLACEMENTS} node placements")
        if index in path:
            raise ReadError(f"glTF node {index} contains itself (node cycle)")
        if len(path) > MAX_DEPTH:
            raise ReadError(f"glTF nodes are nested deeper than {MAX_DEPTH}")
        node = doc.item("nodes", index, "a scene")
        world = parent @ _node_matrix(node, index)
        if "mesh" in node:
            yield node["mesh"], world
        children = node.get("children", [])
        if not isinstance(children, list):
            raise ReadError(f"glTF node {index} children is not a list")
        for child in reversed(children):
            stack.append((child, world, path + (index,)))


def _primitive_faces(doc: _Document, prim: dict[str, Any], count: int, where: str) -> np.ndarray | None:
    """The ``(n, 3)`` triangles of a primitive (None for points and lines)."""
    mode = prim.get("mode", MODE_TRIANGLES)
    if mode not in (MODE_TRIANGLES, MODE_STRIP, MODE_FAN):
        return None
    if "indices" in prim:
        idx = doc.accessor(prim["indices"], where, ("SCALAR",)).reshape(-1)
        if idx.dtype.kind == "f" or idx.dtype.kind == "i":
            raise ReadError(f"glTF {where} indices are not unsigned integers")
        idx = idx.astype(np.int64)
    else:
        idx = np.arange(count, dtype=np.int64)
    if mode == MODE_TRIANGLES:
        n = len(idx) // 3
        if len(idx) % 3:
            doc.problems.append(f"glTF {where} has {len(idx) % 3} indices left over after its triangles")
        return idx[: 3 * n].reshape(-1, 3)
    if len(idx) < 3:
        return np.empty((0, 3), np.int64)
    k = np.arange(len(idx) - 2)
    if mode == MODE_FAN:
        return np.stack((np.full(len(k), idx[0]), idx[k + 1], idx[k + 2]), axis=1)
    # strip: every other triangle flips its winding
    even = (k % 2) == 0
    a = np.where(even, idx[k], idx[k + 1])
    b = np.where(even, idx[k + 1], idx[k])
    return np.stack((a, b, idx[k + 2]), axis=1)


def _parts(doc: _Document) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every placed primitive as (world vertices, faces), counted against the limits first."""
    placed = list(_placements(doc))
    meshes: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    total = 0
    for mesh_index, _ in placed:
        if mesh_index not in meshes:
            meshes[mesh_index] = list(_mesh_primitives(doc, mesh_index))
        total += sum(len(f) for _, f in meshes[mesh_index])
        if total > doc.limits.max_triangles:
            raise ReadError(f"the glTF scene places more than {doc.limits.max_triangles} triangles (the limit)")
    for mesh_index, world in placed:
        for verts, faces in meshes[mesh_index]:
            yield verts @ world[:3, :3].T + world[:3, 3], faces
            budget.check()


def _mesh_primitives(doc: _Document, mesh_index: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    mesh = doc.item("meshes", mesh_index, "a node")
    prims = mesh.get("primitives", [])
    if not isinstance(prims, list):
        raise ReadError(f"glTF mesh {mesh_index} primitives is not a list")
    for p, prim in enumerate(prims):
        where = f"mesh {mesh_index} primitive {p}"
        if not isinstance(prim, dict) or not isinstance(prim.get("attributes"), dict):
            raise ReadError(f"glTF {where} has no attributes")
        if "POSITION" not in prim["attributes"]:
            continue
        positions = doc.accessor(prim["attributes"]["POSITION"], where, ("VEC3",))
        if positions.dtype.kind != "f":
            raise ReadError(f"glTF {where} has quantized (integer) positions, which are not supported")
        faces = _primitive_faces(doc, prim, len(positions), where)
        if faces is None:
            continue
        try:
            check_faces(faces, len(positions))
        except ReadError as exc:
            raise ReadError(f"glTF {where}: {exc}") from None
        yield positions.astype(np.float64), faces


class GltfReader:
    """glTF 2.0 scenes: binary (.glb) and JSON (.gltf)."""

    name = "gltf"
    extensions = (".glb", ".gltf")

    def read(self, source: Source) -> ReadResult:
        """Triangles, box, volume, area and watertightness of the scene as placed."""
        doc = _load(source)
        parts = [measure_indexed(v, f, source.limits) for v, f in _parts(doc) if len(f)]
        metrics = MeshMetrics.combine(parts) if parts else MeshMetrics(0, None, None, None, None, False)
        asset = doc.doc["asset"]
        meta: dict[str, Any] = {
            "encoding": "binary" if source.name.lower().endswith(".glb") else "json",
            "meshes": len(doc.items("meshes")),
            "nodes": len(doc.items("nodes")),
            "placed_primitives": len(parts),
        }
        if isinstance(asset.get("generator"), str):
            meta["generator"] = asset["generator"][:200]
        problems = list(doc.problems)
        if not metrics.triangles:
            problems.append("the glTF scene has no triangles")
        return ReadResult(format=self.name, problems=problems + metrics.problems(), meta=meta, **metrics.fields())

    def triangles(self, source: Source) -> np.ndarray:
        """The scene's triangles as placed, ``(n, 3, 3)`` (for drawing)."""
        doc = _load(source)
        parts = [v[f] for v, f in _parts(doc) if len(f)]
        return np.concatenate(parts) if parts else np.zeros((0, 3, 3))


@hookimpl
def register_readers(register: Any) -> None:
    """The glTF / GLB reader."""
    register(GltfReader())
