"""printmanager's built-in thumbnails plugin.

A plugin like any other: registered through the ``printmanager`` entry-point
group (``thumbnails = "printmanager_thumbnails"``), it implements

- ``make_thumbnail`` twice: :func:`embedded_thumbnail` (``tryfirst``: the
  picture a 3MF, G-code or binary G-code file carries, or the file itself when it
  is a picture) and :func:`rendered_thumbnail` (``trylast``: a CPU render of the
  mesh, or of a G-code toolpath);
- ``scan_finished``: thumbnails for the files a scan added or changed (unless the
  scan was asked for none);
- ``register_commands``: ``printmanager thumbnail`` and ``printmanager gallery``
  (a contact sheet of a query's files, :mod:`.gallery`);
- ``register_settings`` and ``register_migrations``: what it owns in a library,
  the settings ``thumbnails.*`` and the ``thumbnail_path`` slot (:mod:`.schema`).

The library API is :func:`thumbnail`, :func:`model_thumbnail` and
:func:`make_thumbnails`; the renderer alone is :func:`render_triangles`.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import TYPE_CHECKING

from printmanager_core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable

    import click
    import pluggy
    from sqlite_utils.migrations import Migrations

    from printmanager_core.settings import Setting

    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord, ScanOptions, ScanReport

    from .picture import Thumbnail

__all__ = [
    "DEFAULT_SIZE",
    "CachedThumbnail",
    "decode_image",
    "file_source",
    "fit_square",
    "ImageRejected",
    "load_triangles",
    "make_thumbnail",
    "make_thumbnails",
    "model_thumbnail",
    "render_triangles",
    "RenderError",
    "Style",
    "Thumbnail",
    "thumbnail",
    "ThumbnailError",
    "View",
]

log = logging.getLogger(__name__)

#: where each public name lives; imported on first use, so that loading the plugin
#: (every command does) costs no PIL, numpy or renderer import
_PUBLIC = {
    "DEFAULT_SIZE": "api", "CachedThumbnail": "api", "file_source": "api", "make_thumbnail": "api",
    "make_thumbnails": "api", "model_thumbnail": "api", "thumbnail": "api",
    "decode_image": "images", "fit_square": "images", "ImageRejected": "images",
    "load_triangles": "geometry", "render_triangles": "render", "RenderError": "render",
    "Style": "render", "View": "render", "Thumbnail": "picture", "ThumbnailError": "picture",
}  # fmt: skip


def __getattr__(name: str) -> object:
    """The public API (``from printmanager_thumbnails import thumbnail``), imported on first use."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``hookspecs.py``) to the plugin manager."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl(specname="make_thumbnail", tryfirst=True)
def embedded_thumbnail(library: "Library", file: "FileRecord", size: int) -> "Thumbnail | None":
    """The picture the file carries (the largest one), or the file itself if it is a picture.

    When every embedded picture is refused (hostile or broken), the mesh or toolpath
    is rendered instead and the refusals are kept in the thumbnail's ``problems``.
    A catalogued file whose reader counted no picture (``file.thumbnails == 0``)
    is not opened again.
    """
    from printmanager_core.readers import reader_for, reader_for_source
    from printmanager_core.readers.base import ReadError

    from .api import file_source, render_source
    from .geometry import can_draw
    from .images import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES, ImageRejected, decode_image, fit_square, pick_largest
    from .picture import Thumbnail, ThumbnailError

    ext = os.path.splitext(file.name.lower())[1]
    if ext in IMAGE_EXTENSIONS:
        source = file_source(library, file)
        if source.size > MAX_IMAGE_BYTES:
            raise ThumbnailError(f"{file.name}: the picture is {source.size} bytes, "
                                 f"more than the {MAX_IMAGE_BYTES}-byte limit")
        try:
            image = decode_image(source.read_bytes(), IMAGE_EXTENSIONS[ext], hint_size=size)
        except (ImageRejected, ReadError) as exc:
            raise ThumbnailError(f"{file.name}: {exc}") from None
        return Thumbnail.from_image(fit_square(image, size), "embedded", detail=file.name)
    if file.id and file.hash and file.scanned_at and not file.thumbnails:
        return None  # catalogued, and its reader found no picture in this content
    if reader_for(file.name) is None:
        return None  # a name no reader takes is never sniffed
    source = file_source(library, file)
    reader = reader_for_source(source)  # by name, then content (a bgcode saved as .gcode)
    extract = getattr(reader, "embedded_images", None)
    if not callable(extract):
        return None
    try:
        images = extract(source)
    except Exception as exc:  # noqa: BLE001 - a reader failing on bad input must not stop the render
        log.info("%s: embedded pictures not readable: %s", file.path, exc)
        return None
    if not images:
        return None
    picked, problems = pick_largest(images, hint_size=size)
    if picked is not None:
        name = picked.embedded.name or "embedded picture"
        return Thumbnail.from_image(fit_square(picked.image, size), "embedded", detail=name, problems=problems)
    # Every picture was refused: say why, and draw the geometry where there is some.
    why = "; ".join(problems)
    if can_draw(file.name):
        try:
            rendered = render_source(source, size)
        except ThumbnailError as exc:
            raise ThumbnailError(f"{file.name}: embedded picture refused ({why}), and {exc}") from None
        rendered.problems = problems + rendered.problems
        return rendered
    raise ThumbnailError(f"{file.name}: embedded picture refused: {why}")


@hookimpl(specname="make_thumbnail", trylast=True)
def rendered_thumbnail(library: "Library", file: "FileRecord", size: int) -> "Thumbnail | None":
    """A render of the file's mesh (STL, OBJ, PLY, 3MF) or G-code toolpath; None for other files."""
    from .api import file_source, render_source
    from .geometry import can_draw

    if not can_draw(file.name):
        return None
    return render_source(file_source(library, file), size)


@hookimpl
def scan_finished(library: "Library", report: "ScanReport", options: "ScanOptions") -> None:
    """Make thumbnails for files the scan added or changed, and for files that have none yet
    (not when the scan was asked for none, or the setting ``thumbnails.on_scan`` is false)."""
    changed = list(getattr(report, "changed_ids", []) or [])
    pruning = bool(getattr(report, "updated", 0) or getattr(report, "moved", 0) or getattr(report, "missing", 0))
    if not (changed or pruning or options.thumbnails):
        return  # nothing to do: the renderer (numpy, Pillow) is not even imported
    from .api import files_needing_thumbnails, forget_stale, make_thumbnails, on_scan, prune_cache

    if changed:  # nothing changed: no recorded thumbnail can have gone stale
        forget_stale(library, changed)
    if options.thumbnails and on_scan(library):
        files = files_needing_thumbnails(library, changed)
        if files:
            made = make_thumbnails(library, files, progress=getattr(options, "progress", None))
            log.info("thumbnails: %d made or found, %d without", sum(1 for p in made.values() if p),
                     sum(1 for p in made.values() if not p))
    if pruning:
        prune_cache(library)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    """Add ``printmanager thumbnail`` and ``printmanager gallery``."""
    from .cli import thumbnail_cmd
    from .gallery_cli import gallery_cmd

    cli.add_command(thumbnail_cmd)
    cli.add_command(gallery_cmd)


@hookimpl
def register_settings(register: "Callable[[Setting], None]") -> None:
    """The plugin's settings: ``thumbnails.on_scan`` and ``thumbnails.size`` (see :mod:`.schema`)."""
    from . import schema  # sqlite-utils: only when a library is opened

    for setting in schema.SETTINGS:
        register(setting)


@hookimpl
def register_migrations(register: "Callable[[Migrations], None]") -> None:
    """The plugin's migration set ``thumbnails``: the ``thumbnail_path`` slot (see :mod:`.schema`)."""
    from . import schema

    register(schema.migrations)
