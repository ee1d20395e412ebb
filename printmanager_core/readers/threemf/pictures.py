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

from .. import ziputil
from ..base import EmbeddedImage, ReadError
from ..images import SIGNATURES, embedded_image, image_format
from .model import ModelPart, encoding_problem
from .package import REL_THUMBNAIL, Package

__all__ = ["object_thumbnails_known", "pictures", "plate_pictures", "thumbnail_parts"]

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


#: most model parts :func:`object_thumbnails_known` scans before giving up (the caller then parses)
MAX_SCANNED_PARTS = 32
#: most other parts whose first bytes it looks at before searching the model instead
MAX_PEEKED_PARTS = 256
_XML_WS = rb"[ \t\r\n]*"
#: an attribute value as written, without entity or character references and without the
#: whitespace that XML attribute-value normalisation would change: then the text is the value
_PLAIN_VALUE = rb"""(?:"([^"&<\t\r\n]*)"|'([^'&<\t\r\n]*)')"""
_THUMBNAIL_ATTR = re.compile(rb"thumbnail" + _XML_WS + rb"=" + _XML_WS + _PLAIN_VALUE)
_PATH_ATTR = re.compile(rb"path" + _XML_WS + rb"=" + _XML_WS + _PLAIN_VALUE)
#: bytes enough to tell a picture by its signature
_SIGNATURE_BYTES = max(len(sig) for sigs in SIGNATURES.values() for sig in sigs)


def _plain_values(pattern: "re.Pattern[bytes]", word: bytes, data: bytes) -> list[str] | None:
    """Every value of an attribute ending in ``word`` in ``data``, if *every* occurrence of
    ``word`` in it is such an attribute with a plainly written UTF-8 value; else None."""
    found = pattern.findall(data)
    if len(found) != data.count(word):
        return None
    try:
        return [(double or single).decode("utf-8") for double, single in found]
    except UnicodeDecodeError:
        return None


def object_thumbnails_known(pkg: Package, root_part: str) -> bool:
    """Whether no object ``thumbnail`` attribute can add a picture to those :func:`thumbnail_parts`
    lists without the model parts, found without parsing them.

    Then ``pictures(pkg)`` is exactly ``pictures(pkg, <the parsed model parts>)``: object
    thumbnails come last and each part is listed once, so an attribute naming a part
    already listed adds nothing, and one naming a part that is not a PNG or JPEG picture
    adds nothing either. A conforming package names its object thumbnails by
    relationships too, so this is the usual case, and the model (nearly all of a package)
    is not parsed:

    - when no part outside the list starts like a PNG or JPEG picture, no attribute can
      add one, and the model is not even inflated;
    - otherwise the root part, and every part a ``path`` attribute of a part searched
      names (the production extension's ``p:path``), are searched for ``thumbnail``
      attributes (every one counts, wherever it stands); each must name a part already
      listed or no part at all.

    False (parse to be sure) when that cannot be settled exactly: a part is not UTF-8, an
    occurrence of the word is not a plainly written attribute, a part cannot be read, or
    too many parts are named.
    """
    listed = {name.lower() for name in thumbnail_parts(pkg)}
    if _no_other_pictures(pkg, listed):
        return True
    todo = [root_part]
    seen: set[str] = set()
    while todo:
        info = pkg.info(todo.pop())
        if info is None or info.filename.lower() in seen:
            continue  # no such part: a parse would not find objects there either
        seen.add(info.filename.lower())
        if len(seen) > MAX_SCANNED_PARTS:
            return False
        try:
            data = pkg.read(info.filename, xml=True)
        except ReadError:
            return False
        if encoding_problem(data, info.filename) is not None:
            return False
        thumbnails = _plain_values(_THUMBNAIL_ATTR, b"thumbnail", data)
        paths = _plain_values(_PATH_ATTR, b"path", data)
        if thumbnails is None or paths is None:
            return False
        for value in thumbnails:
            target = pkg.info(value.lstrip("/"))
            if target is not None and target.filename.lower() not in listed:
                return False
        todo.extend(paths)
    return True


def _no_other_pictures(pkg: Package, listed: set[str]) -> bool:
    """Whether every part outside ``listed`` is readable and does not start like a PNG or JPEG
    picture (only its first bytes are inflated; a package of very many parts is not looked
    through part by part, the model is searched instead)."""
    others = [info for key, info in pkg.members.items() if key not in listed]
    if len(others) > MAX_PEEKED_PARTS:
        return False
    for info in others:
        try:
            head = ziputil.peek_member(pkg.zf, info, _SIGNATURE_BYTES, pkg.limits)
        except ReadError:
            return False
        if image_format(head) in ("png", "jpg"):
            return False
    return True
