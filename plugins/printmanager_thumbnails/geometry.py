"""Triangles to draw for a file: its mesh, or a sliced file's toolpath.

The format readers own parsing, so a thumbnail shows what the catalogue
measured. In order of preference:

1. a reader that hands over its triangles directly: ``reader.triangles(source)``
   returning an ``(n, 3, 3)`` float array (third-party readers can offer this);
2. the core readers' parsing functions (``read_stl_triangles``, ``parse_obj``,
   ``parse_ply``; for 3MF ``read_3mf_triangles`` when the 3MF reader has one);
3. fallbacks here: trimesh for STL/OBJ/PLY/OFF, and for 3MF a small reader of
   the core 3MF model (:mod:`.threemf`: objects, components, build items and
   their transforms, beam lattices).

Text G-code (and the plate G-code of a ``.gcode.3mf``) is drawn from its
extrusion moves (:mod:`.toolpath`).
"""

from __future__ import annotations

import io
import zipfile
from typing import Callable

import numpy as np

from printmanager_core.readers import reader_for
from printmanager_core.readers.base import ReadError, Source

from . import toolpath
from .thumbnail import ThumbnailError

#: file-name endings drawn from a mesh, → trimesh file type (None: our 3MF reader)
MESH_TYPES: dict[str, str | None] = {
    ".stl": "stl",
    ".obj": "obj",
    ".ply": "ply",
    ".off": "off",
    ".3mf": None,
}
#: file-name endings drawn from a toolpath
TOOLPATH_TYPES = (".gcode", ".gco", ".g")


def _ending(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".gcode.3mf"):
        return ".gcode.3mf"
    for ext in (*MESH_TYPES, *TOOLPATH_TYPES):
        if lower.endswith(ext):
            return ext
    return None


def is_toolpath(name: str) -> bool:
    """Whether a file of this name is drawn from a G-code toolpath (not a mesh)."""
    return _ending(name) in (*TOOLPATH_TYPES, ".gcode.3mf")


def can_draw(name: str) -> bool:
    """Whether a file of this name has geometry the renderer can draw."""
    reader = reader_for(name)
    return _ending(name) is not None or callable(getattr(reader, "triangles", None))


def load_triangles(source: Source) -> np.ndarray:
    """The triangles of a mesh file, or of a sliced file's toolpath: an ``(n, 3, 3)`` float32 array.

    :raises ThumbnailError: the file has nothing to draw, or cannot be read.
    """
    reader = reader_for(source.name)
    provide: Callable[[Source], np.ndarray] | None = getattr(reader, "triangles", None)
    tris: np.ndarray | None
    try:
        if callable(provide):
            tris = provide(source)
        else:
            ending = _ending(source.name)
            if ending is None:
                raise ThumbnailError("no geometry to draw for this kind of file")
            if ending in TOOLPATH_TYPES:
                with source.open() as fh:
                    tris = toolpath.toolpath_triangles(fh)
            elif ending == ".gcode.3mf":
                tris = _plate_toolpath(source)
            else:
                tris = _core_triangles(source, ending)
                if tris is None and ending == ".3mf":
                    tris = _threemf_triangles(source)
                elif tris is None:
                    tris = _trimesh_triangles(source, MESH_TYPES[ending] or "")
    except ThumbnailError:
        raise
    except ReadError as exc:
        raise ThumbnailError(f"cannot read the mesh: {exc}") from None
    except MemoryError:
        raise ThumbnailError("the mesh is too large to draw in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - third-party parsers raise anything on bad input
        raise ThumbnailError(f"cannot read the mesh: {_one_line(exc)}") from None
    if tris is None:
        raise ThumbnailError("the file has no triangles to draw")
    tris = np.asarray(tris, dtype=np.float32)
    if tris.size == 0:
        raise ThumbnailError("the file has no triangles to draw")
    tris = tris.reshape(-1, 3, 3)
    if len(tris) > source.limits.max_triangles:
        raise ThumbnailError(
            f"the mesh has {len(tris)} triangles, more than the limit of {source.limits.max_triangles}"
        )
    return tris


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _core_triangles(source: Source, ending: str) -> np.ndarray | None:
    """The triangles as the core's mesh reader parses them (so a thumbnail shows what
    the catalogue measured), or None where that reader offers no parsing function."""
    import importlib

    from printmanager_core.readers.mesh import check_faces

    module_name, function = {
        ".stl": ("stl", "read_stl_triangles"),
        ".obj": ("obj", "parse_obj"),
        ".ply": ("ply", "parse_ply"),
        ".3mf": ("threemf", "read_3mf_triangles"),
    }.get(ending, ("", ""))
    if not module_name:
        return None
    try:
        module = importlib.import_module(f"printmanager_core.readers.{module_name}")
    except ImportError:
        return None
    parse = getattr(module, function, None)
    if not callable(parse):
        return None
    if ending == ".stl":
        return parse(source)[0]
    if ending == ".3mf":
        return parse(source)
    data = source.read_bytes()
    if not data.strip():
        raise ThumbnailError("the file is empty")
    vertices, faces = (parse(data) if ending == ".obj" else parse(data, source.limits))[:2]
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces).reshape(-1, 3)
    check_faces(faces, len(vertices))
    return vertices[faces]


def _trimesh_triangles(source: Source, file_type: str) -> np.ndarray:
    import trimesh

    data = source.read_bytes()
    if not data.strip():
        raise ThumbnailError("the file is empty")
    loaded = trimesh.load(io.BytesIO(data), file_type=file_type, process=False, force="mesh")
    tris = getattr(loaded, "triangles", None)
    if tris is None or len(tris) == 0:
        raise ThumbnailError("the file has no triangles to draw")
    return np.asarray(tris, dtype=np.float32)


def _open_zip(source: Source) -> zipfile.ZipFile:
    from printmanager_core.readers import ziputil

    return ziputil.open_zip(source)


def _read_member(zf: zipfile.ZipFile, name: str, source: Source) -> bytes:
    from printmanager_core.readers import ziputil

    members = {i.filename: i for i in ziputil.safe_members(zf, source.limits)}
    if name not in members:
        raise ThumbnailError(f"the archive has no {name}")
    return ziputil.read_member(zf, members[name], source.limits)


def _plate_toolpath(source: Source) -> np.ndarray:
    """The first plate's toolpath of a Bambu/Orca ``.gcode.3mf``."""
    from printmanager_core.readers import ziputil

    with _open_zip(source) as zf:
        members = sorted(
            i.filename for i in ziputil.safe_members(zf, source.limits)
            if i.filename.startswith("Metadata/plate_") and i.filename.endswith(".gcode")
        )
        if not members:
            raise ThumbnailError("the archive has no plate G-code to draw")
        data = _read_member(zf, members[0], source)
    return toolpath.toolpath_triangles(io.BytesIO(data))


def _threemf_triangles(source: Source) -> np.ndarray:
    from . import threemf

    with _open_zip(source) as zf:
        return threemf.build_triangles(zf, lambda name: _read_member(zf, name, source))

