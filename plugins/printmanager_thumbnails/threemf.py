"""The triangles a 3MF package builds, for drawing.

Follows the 3MF core specification far enough to draw what a slicer would
place: the model part named by the package relationships, its objects (meshes
and components, with their transforms, nested), and the build items with their
transforms. Components in other model parts (the production extension's
``p:path``) are followed too. Beam lattices are drawn as thin square beams.
XML with a document type declaration is parsed by defusedxml, which refuses
entity definitions and external references; XML without one (every real 3MF:
the packaging rules forbid DTDs) cannot define entities, and is parsed by the
standard library's C parser, about twice as fast.
"""

from __future__ import annotations

import zipfile
from typing import Callable
from xml.etree import ElementTree as StdElementTree
from xml.etree.ElementTree import Element

import numpy as np
from defusedxml import DefusedXmlException, ElementTree

from .thumbnail import ThumbnailError

_CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
_PROD = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
_BEAM = "http://schemas.microsoft.com/3dmanufacturing/beamlattice/2017/02"
_MODEL_REL = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
#: nesting depth of components followed at most (cycles are refused before this)
MAX_DEPTH = 32


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _transform(text: str | None) -> np.ndarray:
    """A 3MF transform (12 numbers, row-vector convention) as a 4×4 matrix acting on columns."""
    m = np.eye(4)
    if not text:
        return m
    try:
        vals = [float(v) for v in text.split()]
    except ValueError:
        raise ThumbnailError(f"bad 3MF transform {text[:60]!r}") from None
    if len(vals) != 12 or not np.isfinite(vals).all():
        raise ThumbnailError(f"bad 3MF transform {text[:60]!r}")
    r = np.array(vals).reshape(4, 3)  # rows: x axis, y axis, z axis, translation
    m[:3, :3] = r[:3].T
    m[:3, 3] = r[3]
    return m


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML: defusedxml when it declares a DTD, else the C parser.

    :raises ElementTree.ParseError: not well-formed.
    :raises ThumbnailError: entity declarations or external references.
    """
    # (a NUL byte near the start means UTF-16/32, where the DOCTYPE test below would not see one)
    if b"\x00" in data[:1024] or b"<!DOCTYPE" in data:
        try:
            return ElementTree.fromstring(data)
        except DefusedXmlException as exc:
            kind = type(exc).__name__
            raise ThumbnailError(f"XML with entities or external references is refused ({kind})") from None
    return StdElementTree.fromstring(data)


def _model_path(zf: zipfile.ZipFile, read: Callable[[str], bytes]) -> str:
    names = set(zf.namelist())
    if "_rels/.rels" in names:
        root = parse_xml(read("_rels/.rels"))
        for rel in root.iter(_q(_REL_NS, "Relationship")):
            if rel.get("Type") == _MODEL_REL and rel.get("Target"):
                return rel.get("Target", "").lstrip("/")
    if "3D/3dmodel.model" in names:
        return "3D/3dmodel.model"
    raise ThumbnailError("the 3MF package names no 3D model part")


class _Part:
    """One model part (XML file) of the package: its objects by id."""

    def __init__(self, root: Element):
        self.objects: dict[str, Element] = {}
        resources = root.find(_q(_CORE, "resources"))
        if resources is not None:
            for obj in resources.findall(_q(_CORE, "object")):
                oid = obj.get("id")
                if oid is not None:
                    self.objects[oid] = obj
        self.build = root.find(_q(_CORE, "build"))


def _floats(elements: list[Element], attrs: tuple[str, ...]) -> np.ndarray:
    try:
        return np.array([[float(e.get(a, "nan")) for a in attrs] for e in elements], dtype=np.float64)
    except ValueError:
        raise ThumbnailError("a 3MF vertex has a coordinate that is not a number") from None


def _mesh_triangles(obj: Element) -> list[np.ndarray]:
    mesh = obj.find(_q(_CORE, "mesh"))
    if mesh is None:
        return []
    verts_el = mesh.find(_q(_CORE, "vertices"))
    vertices = _floats(list(verts_el) if verts_el is not None else [], ("x", "y", "z")).reshape(-1, 3)
    out = []
    tris_el = mesh.find(_q(_CORE, "triangles"))
    if tris_el is not None and len(tris_el):
        try:
            faces = np.array([[int(t.get("v1", "-1")), int(t.get("v2", "-1")), int(t.get("v3", "-1"))]
                              for t in tris_el], dtype=np.int64)
        except ValueError:
            raise ThumbnailError("a 3MF triangle has a vertex index that is not a number") from None
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise ThumbnailError("a 3MF triangle refers to a vertex that does not exist")
        out.append(vertices[faces])
    beams = mesh.find(_q(_BEAM, "beamlattice"))
    if beams is not None:
        out.extend(_beam_triangles(beams, vertices))
    return out


def _beam_triangles(lattice: Element, vertices: np.ndarray) -> list[np.ndarray]:
    """Beams (``<beam v1 v2 r1 r2>``) as square prisms of their radius."""
    default_r = float(lattice.get("radius", "1") or 1)
    beams_el = lattice.find(_q(_BEAM, "beams"))
    if beams_el is None or not len(beams_el):
        return []
    rows = []
    for b in beams_el:
        try:
            v1, v2 = int(b.get("v1", "-1")), int(b.get("v2", "-1"))
            r1 = float(b.get("r1", default_r))
            r2 = float(b.get("r2", r1))
        except ValueError:
            raise ThumbnailError("a 3MF beam has a value that is not a number") from None
        if not (0 <= v1 < len(vertices) and 0 <= v2 < len(vertices)):
            raise ThumbnailError("a 3MF beam refers to a vertex that does not exist")
        rows.append((v1, v2, r1, r2))
    arr = np.array(rows)
    starts = vertices[arr[:, 0].astype(np.int64)]
    ends = vertices[arr[:, 1].astype(np.int64)]
    return [prisms(starts, ends, arr[:, 2], arr[:, 3])]


def prisms(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Square prisms around segments a→b (radius ra at a, rb at b): ``(8n, 3, 3)`` triangles."""
    d = b - a
    length = np.linalg.norm(d, axis=1)
    length[length == 0] = 1
    d = d / length[:, None]
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u, axis=1)[:, None]
    v = np.cross(d, u)
    corners_a = [a + ra[:, None] * (su * u + sv * v) for su, sv in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
    corners_b = [b + rb[:, None] * (su * u + sv * v) for su, sv in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
    tris = []
    for k in range(4):
        k2 = (k + 1) % 4
        tris.append(np.stack([corners_a[k], corners_a[k2], corners_b[k2]], axis=1))
        tris.append(np.stack([corners_a[k], corners_b[k2], corners_b[k]], axis=1))
    return np.concatenate(tris, axis=0)


class _Builder:
    def __init__(self, zf: zipfile.ZipFile, read: Callable[[str], bytes]):
        self.read = read
        self.parts: dict[str, _Part] = {}
        self.out: list[np.ndarray] = []
        self.count = 0

    def part(self, path: str) -> _Part:
        path = path.lstrip("/")
        if path not in self.parts:
            try:
                root = parse_xml(self.read(path))
            except StdElementTree.ParseError as exc:
                raise ThumbnailError(f"{path} is not well-formed XML: {exc}") from None
            if root.tag != _q(_CORE, "model"):
                raise ThumbnailError(f"{path} is not a 3MF model")
            self.parts[path] = _Part(root)
        return self.parts[path]

    def add(self, path: str, oid: str, matrix: np.ndarray, stack: tuple[tuple[str, str], ...]) -> None:
        key = (path, oid)
        if key in stack:
            raise ThumbnailError(f"3MF object {oid} contains itself")
        if len(stack) >= MAX_DEPTH:
            raise ThumbnailError("3MF components are nested too deeply")
        obj = self.part(path).objects.get(oid)
        if obj is None:
            raise ThumbnailError(f"3MF build refers to object {oid}, which does not exist")
        for tris in _mesh_triangles(obj):
            flat = tris.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
            self.out.append(flat.reshape(-1, 3, 3).astype(np.float32))
        comps = obj.find(_q(_CORE, "components"))
        if comps is not None:
            for comp in comps.findall(_q(_CORE, "component")):
                cid = comp.get("objectid")
                if cid is None:
                    continue
                cpath = (comp.get(_q(_PROD, "path")) or "/" + path).lstrip("/")
                self.add(cpath, cid, matrix @ _transform(comp.get("transform")), stack + (key,))


def build_triangles(zf: zipfile.ZipFile, read: Callable[[str], bytes]) -> np.ndarray:
    """Every triangle the package's build places, transformed, as ``(n, 3, 3)`` float32.

    :param zf: the open package.
    :param read: reads a member by name (with the caller's size limits).
    :raises ThumbnailError: the package is not a readable 3MF, or builds nothing.
    """
    builder = _Builder(zf, read)
    path = _model_path(zf, read)
    main = builder.part(path)
    items = main.build.findall(_q(_CORE, "item")) if main.build is not None else []
    missing: list[str] = []
    for item in items:
        oid = item.get("objectid")
        if oid is None:
            continue
        ipath = (item.get(_q(_PROD, "path")) or path).lstrip("/")
        if oid not in builder.part(ipath).objects:
            missing.append(oid)  # a broken build item: draw what does exist
            continue
        builder.add(ipath, oid, _transform(item.get("transform")), ())
    if not builder.out:  # no (usable) build: draw every object of the main part
        for oid in main.objects:
            builder.add(path, oid, np.eye(4), ())
    if not builder.out:
        raise ThumbnailError("the 3MF package builds no triangles")
    return np.concatenate(builder.out, axis=0)

