"""A 3MF package: the zip's parts, their relationships, the start part.

3MF is an Open Packaging Conventions (OPC) zip: parts are zip members named
case-insensitively, ``_rels/.rels`` (and ``<folder>/_rels/<part>.rels`` per
part) name the 3D model and thumbnails by relationship type. :class:`Package`
gives parts by name, the relationships, and the start part; zip bombs and
unsafe names are refused by :mod:`..ziputil`. The 3MF reader and the
``.gcode.3mf`` reader both open their archives through it.
"""

from __future__ import annotations

import posixpath
import zipfile
from urllib.parse import unquote
from xml.etree import ElementTree

import defusedxml
import defusedxml.ElementTree as SafeET

from .. import xmlsafe, ziputil
from ..base import Limits, ReadError
from ..xmlsafe import local_name

__all__ = ["DEFAULT_MODEL_PART", "MAX_PROBLEMS", "REL_MODEL", "REL_THUMBNAIL", "Package", "parse_xml"]

REL_MODEL = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
REL_THUMBNAIL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
DEFAULT_MODEL_PART = "3D/3dmodel.model"
#: most problems listed for one file
MAX_PROBLEMS = 50


def parse_xml(data: bytes, part: str, limits: Limits) -> ElementTree.Element:
    """A small XML part (relationships, settings) as a tree, safely (one feed: no re-parsing)."""
    xmlsafe.check_tokens(data, part, limits.max_xml_token_bytes)
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (ElementTree.ParseError, defusedxml.DefusedXmlException, ValueError, LookupError) as exc:
        raise xmlsafe.xml_error(part, exc) from None


class Package:
    """An open 3MF zip: members by (case-insensitive) part name, relationships.

    :param problems: where findings that do not stop reading are noted.
    :param relationships: read every ``.rels`` part now (unreadable ones are noted;
        entity declarations are refused); False for an archive that only needs
        its parts by name.
    """

    def __init__(self, zf: zipfile.ZipFile, limits: Limits, problems: list[str], relationships: bool = True) -> None:
        self.zf = zf
        self.limits = limits
        self.problems = problems
        infos = ziputil.safe_members(zf, limits)
        self.members = {i.filename.replace("\\", "/").lower(): i for i in infos if not i.is_dir()}
        self.rels: dict[str, list[tuple[str, str]]] = {}  # source part -> [(type, target part)]
        if relationships:
            for key, info in self.members.items():
                if key.endswith(".rels") and (key == "_rels/.rels" or "/_rels/" in "/" + key):
                    self._read_rels(info)

    def note(self, text: str) -> None:
        """Add a problem once; at most :data:`MAX_PROBLEMS` are listed."""
        if text in self.problems or len(self.problems) > MAX_PROBLEMS:
            return
        self.problems.append(text if len(self.problems) < MAX_PROBLEMS else "more problems not listed")

    def info(self, part: str) -> zipfile.ZipInfo | None:
        """The member holding ``part`` (leading ``/``, case and %-escapes do not matter), or None."""
        key = part.lstrip("/").lower()
        return self.members.get(key) or self.members.get(unquote(key))

    def read(self, part: str, *, xml: bool = False) -> bytes:
        """The content of ``part``, size-checked (:func:`..ziputil.read_member`); ReadError if there is no such part."""
        info = self.info(part)
        if info is None:
            raise ReadError(f"3MF package has no part {part!r}")
        return ziputil.read_member(self.zf, info, self.limits, xml=xml)

    def _read_rels(self, info: zipfile.ZipInfo) -> None:
        name = info.filename.replace("\\", "/")
        folder, _, rels_name = name.rpartition("_rels/")
        source = folder + rels_name[: -len(".rels")]  # "" for the package itself
        try:
            root = parse_xml(ziputil.read_member(self.zf, info, self.limits), name, self.limits)
        except ReadError as exc:
            if "entity" in str(exc) or "zip" in str(exc):
                raise
            self.problems.append(f"{name} is unreadable: {exc}")
            return
        out = []
        base = posixpath.dirname(source)
        for rel in root:
            if local_name(rel.tag) != "Relationship":
                continue
            target = (rel.get("Target") or "").strip()
            if rel.get("TargetMode", "").lower() == "external" or not target:
                continue
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
            path = posixpath.normpath(path)
            if path.startswith("../") or path == "..":
                self.note(f"{name}: relationship target {target!r} is outside the package")
                continue
            out.append((rel.get("Type", ""), path))
            if self.info(path) is None:
                self.note(f"{name}: relationship target /{path} does not exist")
        self.rels[source.lower()] = out

    def root_part(self) -> str:
        """The start part named by the package relationships (or the usual name, noted)."""
        package_rels = self.rels.get("")
        if package_rels is None:
            self.problems.append("3MF package has no _rels/.rels")
        else:
            models = [t for typ, t in package_rels if typ == REL_MODEL]
            if len(models) > 1:
                self.problems.append("3MF package has more than one 3D model relationship")
            for target in models:
                if self.info(target) is not None:
                    return target
            if not models:
                self.problems.append("_rels/.rels has no 3D model relationship")
        if self.info(DEFAULT_MODEL_PART) is not None:
            self.problems.append(f"read {DEFAULT_MODEL_PART}, which no relationship names as the 3D model")
            return DEFAULT_MODEL_PART
        raise ReadError("3MF package has no 3D model part")
