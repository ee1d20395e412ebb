"""Triangles to draw for a file: its mesh, or a sliced file's toolpath.

The format readers own parsing, so a thumbnail shows what the catalogue
measured: a mesh is drawn from ``reader.triangles(source)`` (an ``(n, 3, 3)``
array; every built-in mesh reader has it, and a third-party reader offers it
to get rendered thumbnails). Text G-code, and the plate G-code of a
``.gcode.3mf``, is drawn from its extrusion moves (:mod:`.toolpath`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Callable

import numpy as np

from printmanager_core.readers import reader_for
from printmanager_core.readers.base import ReadError, Source

from . import toolpath
from .picture import ThumbnailError

if TYPE_CHECKING:  # pragma: no cover
    import zipfile  # (imported by ziputil when a plate is drawn: a mesh's thumbnail does without)

#: file-name endings drawn from a toolpath
TOOLPATH_TYPES = (".gcode", ".gco", ".g")


def _toolpath_ending(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".gcode.3mf"):
        return ".gcode.3mf"
    for ext in TOOLPATH_TYPES:
        if lower.endswith(ext):
            return ext
    return None


def is_toolpath(name: str) -> bool:
    """Whether a file of this name is drawn from a G-code toolpath (not a mesh)."""
    return _toolpath_ending(name) is not None


def can_draw(name: str) -> bool:
    """Whether a file of this name has geometry the renderer can draw."""
    return is_toolpath(name) or callable(getattr(reader_for(name), "triangles", None))


def load_triangles(source: Source) -> np.ndarray:
    """The triangles of a mesh file, or of a sliced file's toolpath: an ``(n, 3, 3)`` float32 array.

    :raises ThumbnailError: the file has nothing to draw, or cannot be read.
    """
    ending = _toolpath_ending(source.name)
    provide: Callable[[Source], np.ndarray] | None = getattr(reader_for(source.name), "triangles", None)
    tris: np.ndarray | None
    try:
        if ending == ".gcode.3mf":
            tris = _plate_toolpath(source)
        elif ending is not None:
            with source.open() as fh:
                tris = toolpath.toolpath_triangles(fh)
        elif callable(provide):
            tris = provide(source)
        else:
            raise ThumbnailError("no geometry to draw for this kind of file")
    except ThumbnailError:
        raise
    except ReadError as exc:
        raise ThumbnailError(f"cannot read the mesh: {exc}") from None
    except MemoryError:
        raise ThumbnailError("the mesh is too large to draw in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - third-party readers raise anything on bad input
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
