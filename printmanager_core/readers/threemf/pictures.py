"""The pictures in a 3MF package: thumbnails and the slicers' plate pictures.

Thumbnails are the picture parts named by thumbnail relationships (package and
per part, e.g. per-object thumbnails), by an object's ``thumbnail`` attribute,
``Metadata/thumbnail.png`` and the plate pictures Bambu Studio, OrcaSlicer and
PrusaSlicer write (``Metadata/plate_N.png``, ``plate_N_small.png``,
``plate_no_light_N.png``, ``top_N.png``; not ``pick_N.png``, an object mask).
:func:`plate_pictures` is shared with the ``.gcode.3mf`` reader.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..base import EmbeddedImage
from ..images import embedded_image
from .model import ModelPart
from .package import REL_THUMBNAIL, Package

__all__ = ["pictures", "plate_pictures", "thumbnail_parts"]

_PLATE_PICTURE = re.compile(r"^Metadata/(plate|plate_no_light|top)_(\d+)(_small)?\.png$", re.IGNORECASE)
_PLATE_PICTURE_ORDER = {"plate": 0, "plate_no_light": 1, "top": 2}


def plate_pictures(pkg: Package) -> list[str]:
    """The member names of the plate pictures, by plate, then main, no-light and top view, large first."""
    plates = []
    for info in pkg.members.values():
        m = _PLATE_PICTURE.match(info.filename)
        if m:
            plates.append(((int(m.group(2)), _PLATE_PICTURE_ORDER[m.group(1).lower()], bool(m.group(3))),
                           info.filename))
    return [name for _, name in sorted(plates)]


def thumbnail_parts(pkg: Package, models: Iterable[ModelPart] = ()) -> list[str]:
    """Existing thumbnail parts, package thumbnail first, each once.

    :param models: the model parts parsed so far (their objects' thumbnails come last).
    """
    ordered: list[str] = []
    for typ, target in pkg.rels.get("", []):
        if typ == REL_THUMBNAIL:
            ordered.append(target)
    ordered.append("Metadata/thumbnail.png")
    ordered.extend(plate_pictures(pkg))
    for source, rels in pkg.rels.items():
        if source:
            ordered.extend(t for typ, t in rels if typ == REL_THUMBNAIL)
    for model in models:
        ordered.extend(o.thumbnail.lstrip("/") for o in model.objects.values() if o.thumbnail)
    seen: set[str] = set()
    out = []
    for part in ordered:
        info = pkg.info(part)
        if info is None or info.filename.lower() in seen:
            continue
        seen.add(info.filename.lower())
        out.append(info.filename)
    return out


def pictures(pkg: Package, models: Iterable[ModelPart] = ()) -> list[EmbeddedImage]:
    """The thumbnail parts that are PNG or JPEG images (others are noted as problems)."""
    out = []
    for part in thumbnail_parts(pkg, models):
        image = embedded_image(pkg.read(part), part.rsplit("/", 1)[-1])
        if image is None:
            pkg.note(f"thumbnail /{part} is not a PNG or JPEG image")
            continue
        out.append(image)
    return out
