"""Hook specifications the thumbnails plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The plugin
adds them from its ``add_hookspecs`` hook, so they exist only while it is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from printmanager_core.hookspecs import hookspec

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord

    from .picture import Thumbnail


@hookspec(firstresult=True)
def make_thumbnail(library: "Library", file: "FileRecord", size: int) -> "Thumbnail | None":
    """Make a thumbnail of ``file`` at most ``size`` pixels square, or return None.

    Plugins are tried in order (``tryfirst``/``trylast``); the first result that is
    not None wins.

    :param library: the library the file belongs to.
    :param file: the file record to picture.
    :param size: the edge length in pixels of the square thumbnail wanted.
    :returns: a :class:`printmanager_thumbnails.Thumbnail`, or None.
    """
