"""A 3MF model part: its objects, build items and metadata, parsed in bounded memory.

:func:`parse_model` reads one model part (``3D/3dmodel.model`` or another
part named by the production extension's ``p:path``). Plainly written mesh
blocks are read in bulk (:mod:`.meshblocks`); everything else goes through a
streaming element parser (:func:`parse_elements`) that keeps only the open
elements in memory. Materials, colours and slices are skipped; beams are kept
(:mod:`.beams`).
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import numpy as np

from .. import xmlsafe
from ..base import DEFAULT_LIMITS, Limits, ReadError
from ..rows import Rows
from ..xmlsafe import local_name
from . import beams as beamlattice
from .meshblocks import BLOCK_ATTR, Blocks, NotCut, cut_mesh_blocks
from .package import MAX_PROBLEMS

__all__ = ["PROD_NS", "ModelObject", "ModelPart", "encoding_problem", "parse_cut", "parse_elements", "parse_model"]

#: the production extension (``p:path`` on build items and components)
PROD_NS = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
#: metadata values kept are cut to this length
MAX_META_TEXT = 500


@attrs.define
class ModelObject:
    """One ``<object>``: a mesh (vertices, faces), components, or beams."""

    id: str
    type: str = "model"
    name: str | None = None
    thumbnail: str | None = None
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None
    components: list[tuple[str, str | None, np.ndarray | None]] = attrs.field(factory=list)
    beams: int = 0
    #: beam rows (v1, v2, r1, r2) with radii resolved, for drawing
    beam_rows: np.ndarray | None = None
    tight: bool | None = None
    tight_done: bool = False


@attrs.define
class ModelPart:
    """One parsed model part: its objects by id, build items, metadata, unit, required extensions."""

    part: str
    unit: str = "millimeter"
    objects: dict[str, "ModelObject"] = attrs.field(factory=dict)
    items: list[tuple[str, str | None, np.ndarray | None]] = attrs.field(factory=list)
    metadata: dict[str, str] = attrs.field(factory=dict)
    required: list[str] = attrs.field(factory=list)


def encoding_problem(data: bytes, part: str) -> str | None:
    """A note when an XML part is not UTF-8 (the 3MF spec requires it)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return f"{part} is not UTF-8 encoded (the 3MF specification requires UTF-8)"
    m = re.match(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding\s*=\s*[\"']([^\"']+)[\"']", data)
    if m and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return f"{part} declares encoding {m.group(1).decode('latin-1')!r} (the 3MF specification requires UTF-8)"
    return None


def _matrix(text: str | None, where: str) -> np.ndarray | None:
    """A 3MF transform (12 numbers, row-vector convention) as a 4x4 column-vector matrix."""
    if text is None or not text.strip():
        return None
    try:
        m = [float(v) for v in text.split()]
    except ValueError:
        m = []
    if len(m) != 12 or not all(np.isfinite(m)):
        raise ReadError(f"{where} has a bad transform {text[:80]!r}")
    return np.array(
        [[m[0], m[3], m[6], m[9]], [m[1], m[4], m[7], m[10]], [m[2], m[5], m[8], m[11]], [0.0, 0.0, 0.0, 1.0]]
    )


_HANDLED = {"vertices", "vertex", "triangles", "triangle", "beam", "beamlattice", "component", "object", "item", "slice", "slicestack",
            "texture2dgroup", "colorgroup", "basematerials", "compositematerials", "multiproperties"}
_SLICE_NS = "http://schemas.microsoft.com/3dmanufacturing/slice/2015/07"


def _kind(tag: str) -> str | None:
    local = local_name(tag)
    if tag.startswith(f"{{{_SLICE_NS}}}"):
        return "clear" if local in ("slice", "slicestack") else None
    if local in ("slice", "slicestack", "texture2dgroup", "colorgroup", "basematerials", "compositematerials",
                 "multiproperties"):
        return "clear"
    return local if local in _HANDLED else None


def parse_model(
    data: bytes, part: str, problems: list[str], geometry: bool = True, limits: Limits = DEFAULT_LIMITS
) -> ModelPart:
    """Parse one model part, keeping objects, build items and metadata.

    The ``<vertices>`` and ``<triangles>`` blocks written the usual way are cut
    out and read in bulk (see :func:`cut_mesh_blocks`); the rest goes through
    the XML parser. Whenever that cannot be done exactly (anything unusual in a
    block, a parse error, a block the parser does not see as mesh content), the
    whole part is parsed element by element instead, so results and error
    messages are those of the element parser.

    :param geometry: False to skip reading coordinates and indices of the
        blocks cut out (their objects then get empty arrays): enough to follow
        the build and find object thumbnails.
    """
    xmlsafe.check_tokens(data, part, limits.max_xml_token_bytes)
    note = encoding_problem(data, part)
    if note:
        problems.append(note)
    else:
        model = parse_cut(data, part, problems, geometry, limits)
        if model is not None:
            return model
    return parse_elements(data, part, problems, None, limits)


def parse_cut(
    data: bytes, part: str, problems: list[str], geometry: bool, limits: Limits = DEFAULT_LIMITS
) -> ModelPart | None:
    """:func:`parse_elements` over the part with its mesh blocks cut out, or None when that does not apply."""
    cut = cut_mesh_blocks(data, geometry)
    if cut is None:
        return None
    text, blocks = cut
    trial = list(problems)
    try:
        model = parse_elements(text, part, trial, blocks, limits)
    except (ReadError, NotCut):
        return None
    if not blocks.all_taken():
        return None
    problems[:] = trial
    return model


def parse_elements(
    data: bytes, part: str, problems: list[str], blocks: Blocks | None, limits: Limits = DEFAULT_LIMITS
) -> ModelPart:
    """Stream-parse one model part, keeping objects, build items and metadata.

    Work happens on "end" events (an element is complete then): the vertices,
    triangles and components seen since the last object belong to the object
    that ends next. Each element is removed from its parent once handled, so
    memory holds the open elements only, however long the part; vertex and
    triangle rows become arrays block by block. ``blocks`` holds the arrays of
    the mesh blocks cut out of ``data``.
    """
    model = ModelPart(part)
    prefixes: dict[str, str] = {}
    kinds: dict[str, str | None] = {}
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None
    vertex_rows: Rows | None = None
    triangle_rows: Rows | None = None
    components: list[tuple[str, str | None, np.ndarray | None]] = []
    beams = 0
    beam_rows: list[tuple[str | None, str | None, str | None, str | None]] = []
    beam_table: np.ndarray | None = None
    root = None
    stack: list[Any] = []
    path_attr = f"{{{PROD_NS}}}path"
    vertex_error = f"{part}: a vertex has a missing or bad coordinate"
    triangle_error = f"{part}: a triangle has a missing or bad vertex index"
    try:
        for event, elem in xmlsafe.iter_events(data, part, limits.max_xml_token_bytes, ("start-ns", "start", "end")):
            if event == "start":
                if root is None:
                    root = elem
                stack.append(elem)
                opened = kinds.get(elem.tag, "?")
                if opened == "?":
                    opened = kinds[elem.tag] = _kind(elem.tag)
                if opened == "vertices":
                    vertex_rows = Rows(np.float64, vertex_error)
                elif opened == "triangles":
                    triangle_rows = Rows(np.int64, triangle_error)
                continue
            if event == "start-ns":
                prefixes.setdefault(elem[0], elem[1])
                continue
            stack.pop()
            parent = stack[-1] if stack else None
            tag = elem.tag
            kind = kinds.get(tag, "?")
            if kind == "?":
                kind = kinds[tag] = _kind(tag)
            if kind == "vertex":
                if vertex_rows is not None and parent is not None and kinds.get(parent.tag) == "vertices":
                    vertex_rows.add((elem.get("x"), elem.get("y"), elem.get("z")))
            elif kind == "triangle":
                if triangle_rows is not None and parent is not None and kinds.get(parent.tag) == "triangles":
                    triangle_rows.add((elem.get("v1"), elem.get("v2"), elem.get("v3")))
            elif kind == "vertices":
                ref = None if blocks is None else elem.get(BLOCK_ATTR)
                if ref is None:
                    vertices = (vertex_rows or Rows(np.float64, vertex_error)).array()
                else:
                    vertices = blocks.take(ref)  # type: ignore[union-attr]
                vertex_rows = None
            elif kind == "triangles":
                ref = None if blocks is None else elem.get(BLOCK_ATTR)
                if ref is None:
                    faces = (triangle_rows or Rows(np.int64, triangle_error)).array()
                else:
                    faces = blocks.take(ref)  # type: ignore[union-attr]
                triangle_rows = None
            elif kind == "beam":
                beams += 1
                beam_rows.append((elem.get("v1"), elem.get("v2"), elem.get("r1"), elem.get("r2")))
            elif kind == "beamlattice":
                beam_table = beamlattice.beam_table(beam_rows, elem.get("radius"), part)
                beam_rows = []
            elif kind == "component":
                cid = elem.get("objectid")
                if cid is None:
                    raise ReadError(f"{part}: a component has no objectid")
                components.append((cid, elem.get(path_attr), _matrix(elem.get("transform"), f"{part}: component")))
            elif kind == "object":
                oid = elem.get("id")
                if oid is None:
                    raise ReadError(f"{part}: an object has no id")
                obj = ModelObject(oid, elem.get("type", "model"), elem.get("name"), elem.get("thumbnail"),
                              vertices, faces, components, beams, beam_table)
                _check_indices(obj, part)
                if oid in model.objects and len(problems) < MAX_PROBLEMS:
                    problems.append(f"{part}: two objects have id {oid}")
                model.objects[oid] = obj
                vertices = faces = None
                components = []
                beams = 0
                beam_table = None
            elif kind == "item":
                iid = elem.get("objectid")
                if iid is None:
                    raise ReadError(f"{part}: a build item has no objectid")
                model.items.append((iid, elem.get(path_attr), _matrix(elem.get("transform"), f"{part}: build item {iid}")))
            elif parent is root and parent is not None and local_name(tag) == "metadata" and elem.get("name"):
                model.metadata[elem.get("name", "")] = (elem.text or "").strip()[:MAX_META_TEXT]
            if parent is not None and len(parent) and parent[-1] is elem:
                del parent[-1]  # handled: memory holds only the open elements
    except ReadError as exc:
        if isinstance(exc, xmlsafe.XmlSyntaxError) and not _is_utf8(data):
            raise ReadError(f"{part} is not UTF-8 encoded XML (the 3MF specification requires UTF-8)") from None
        raise
    if root is None or local_name(root.tag) != "model":
        raise ReadError(f"{part}: the root element is not <model>")
    model.unit = root.get("unit", "millimeter")
    model.required = [prefixes.get(p, f"undeclared prefix {p!r}") for p in (root.get("requiredextensions") or "").split()]
    return model


def _check_indices(obj: ModelObject, part: str) -> None:
    if obj.faces is None or not obj.faces.size:
        return
    count = 0 if obj.vertices is None else len(obj.vertices)
    low, high = int(obj.faces.min()), int(obj.faces.max())
    if low < 0 or high >= count:
        raise ReadError(f"{part}: object {obj.id} has a triangle naming vertex "
                        f"{low if low < 0 else high}, but it has {count} vertices")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
