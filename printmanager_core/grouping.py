"""Which model a file belongs to: the folder rules a scan and a root fold share."""

from __future__ import annotations

import os

from .paths import display_path

#: folders whose files belong to the parent folder's model
PART_FOLDERS = frozenset(
    {"files", "parts", "stl", "stls", "3mf", "obj", "images", "image", "pictures", "photos",
     "gcode", "gcodes", "print files", "printfiles", "sliced", "supported", "unsupported", "renders"}
)


def model_of(root: str, path: str, archive: bool) -> tuple[str, str, str]:
    """The model a file belongs to: (model path, default name, kind).

    An archive is a model; a file directly in the root is a model of its own; any
    other file belongs to its folder, where part folders ("parts", "stl",
    "images"...) roll up into their parent folder. Paths are exact; the name is
    display text.
    """
    if archive:
        return path, display_path(os.path.splitext(os.path.basename(path))[0]), "archive"
    folder = os.path.dirname(path)
    if folder == root:
        name = os.path.basename(path)
        return path, display_path(name.split(".")[0] or name), "file"
    while (
        os.path.basename(folder).lower() in PART_FOLDERS and os.path.dirname(folder) != root and folder != root
    ):
        folder = os.path.dirname(folder)
    return folder, display_path(os.path.basename(folder)), "folder"
