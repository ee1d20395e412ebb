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

Bounds: the document's buffers and accessors are read with the checks of
:mod:`.gltf_document`; non-float positions, node cycles and placements past
``Limits.max_triangles`` are refused.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import budget
from ..hookspecs import hookimpl
from .base import ReadError, ReadResult, Source
from .gltf_document import Document, load
from .mesh import MeshMetrics, check_faces, measure_indexed

__all__ = ["GltfReader"]

MODE_TRIANGLES, MODE_STRIP, MODE_FAN = 4, 5, 6
#: most nodes visited while placing meshes (instancing bombs), and deepest node nesting
MAX_PLACEMENTS = 100_000
MAX_DEPTH = 256


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


def _roots(doc: Document) -> list[int]:
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


def _placements(doc: Document) -> Iterator[tuple[int, np.ndarray]]:
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


def _primitive_faces(doc: Document, prim: dict[str, Any], count: int, where: str) -> np.ndarray | None:
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


def _parts(doc: Document) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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


def _mesh_primitives(doc: Document, mesh_index: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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
        doc = load(source)
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
        doc = load(source)
        parts = [v[f] for v, f in _parts(doc) if len(f)]
        return np.concatenate(parts) if parts else np.zeros((0, 3, 3))


@hookimpl
def register_readers(register: Any) -> None:
    """The glTF / GLB reader."""
    register(GltfReader())
