"""Sliced ↔ source links: which mesh file a G-code file was sliced from.

What each slicer writes that names its input, and where this looks for it:

========================  =================================================================
PrusaSlicer, SuperSlicer,  ``; printing object NAME id:N copy N`` before each object's
OrcaSlicer (text G-code)   moves; ``; objects_info = {"objects":[{"name": …}]}`` (label
                           objects); ``EXCLUDE_OBJECT_DEFINE NAME=…`` for Klipper;
                           ``M486 A…`` (Marlin/Prusa object labels)
Cura / CuraEngine          ``;MESH:NAME`` (the input file's name or path) per layer
Bambu Studio, Orca         ``Metadata/slice_info.config`` ``<object name=…>`` and
(``.gcode.3mf``)           ``Metadata/model_settings.config`` ``name``/``source_file``
``printmanager slice``     the link is made when the G-code is written
========================  =================================================================

A name links to a file of the same root with that name (case aside), else one
whose name without its extension is the same (case and punctuation aside),
preferring the G-code's own model (same folder); elsewhere in the root only a
single match counts. A G-code file that
names nothing links by file name: ``3DBenchy_0.2mm_PLA_MK4.gcode`` beside
``3DBenchy.stl`` (the slicers' default output names start with the input's).

Binary G-code (``.bgcode``) keeps its G-code in compressed blocks; it is linked
by file name.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import IO, TYPE_CHECKING, Iterable, Iterator

from ..records import FileRecord
from ..store.slices import SLICED_FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from ..library import Library

#: how much of a text G-code's start is read for object names (they come with the first layer)
HEAD_BYTES = 8 << 20
#: and of its end (PrusaSlicer's config block, a Cura file's last layers)
TAIL_BYTES = 1 << 20

#: (the literal a line starts with, the pattern of the whole line from there): each is
#: matched only where its literal begins a line, found with ``bytes.find`` (a regex
#: scan of several megabytes per pattern cost ~70 ms a file), with the same matches
#: as ``re.finditer`` of ``^`` + the pattern in multi-line mode (tests/test_printing.py)
_PATTERNS = (
    (b"; printing object ", re.compile(rb"; printing object (.+?) id:\d+ copy \d+")),
    (b";MESH:", re.compile(rb";MESH:(.+?)\s*$", re.M)),
    (b"EXCLUDE_OBJECT_DEFINE NAME=", re.compile(rb"EXCLUDE_OBJECT_DEFINE NAME=(\S+)")),
    (b"M486 A", re.compile(rb"M486 A\"?([^\"\r\n]+)\"?")),
)
_OBJECTS_INFO = (b"; objects_info = ", re.compile(rb"; objects_info = (\{.*\})\s*$", re.M))
#: a Klipper label object name carries the object's id and copy
_KLIPPER_SUFFIX = re.compile(r"_id_\d+_copy_\d+$")
#: mesh extensions stripped from a name before comparing
MESH_EXTENSIONS = (".stl", ".3mf", ".obj", ".ply", ".amf", ".step", ".stp", ".off", ".glb", ".gltf")


def stem(name: str) -> str:
    """What two names are compared by: the base name without a mesh extension, letters and digits only."""
    base = re.split(r"[\\/]", name.strip().strip('"'))[-1]
    base = _KLIPPER_SUFFIX.sub("", base)
    lower = base.lower()
    for ext in MESH_EXTENSIONS:
        if lower.endswith(ext):
            lower = lower[: -len(ext)]
            break
    if lower.startswith("shape-"):  # PrusaSlicer names its shape-gallery objects "Shape-Box"
        lower = lower[len("shape-"):]
    return re.sub(r"[^0-9a-z]+", "", lower) if lower.isascii() else re.sub(r"[\W_]+", "", lower)


def _line_matches(data: bytes, literal: bytes, pattern: "re.Pattern[bytes]") -> Iterator["re.Match[bytes]"]:
    """The matches of ``pattern`` (which starts with ``literal``) at the starts of lines of
    ``data``, left to right and not overlapping, as ``re.finditer`` of ``^`` + pattern
    with ``re.M`` gives them."""
    pos = data.find(literal)
    while pos >= 0:
        m = pattern.match(data, pos) if pos == 0 or data[pos - 1] == 10 else None  # 10: b"\n"
        pos = data.find(literal, m.end() if m is not None and m.end() > pos else pos + 1)
        if m is not None:
            yield m


def names_in_gcode_text(data: bytes) -> list[str]:
    """The object and source names a slicer wrote into (part of) a text G-code file."""
    found: list[str] = []
    for literal, pattern in _PATTERNS:
        for m in _line_matches(data, literal, pattern):
            found.append(m.group(1).decode("utf-8", "replace"))
    for m in _line_matches(data, *_OBJECTS_INFO):
        try:
            info = json.loads(m.group(1))
        except ValueError:
            continue
        for obj in info.get("objects", []) if isinstance(info, dict) else []:
            if isinstance(obj, dict) and isinstance(obj.get("name"), str):
                found.append(obj["name"])
    seen: dict[str, None] = {}
    for name in found:
        if name and name.upper() != "NONMESH":
            seen.setdefault(name, None)
    return list(seen)


def names_in_gcode3mf(data: IO[bytes]) -> list[str]:
    """Object names and source file names in a sliced 3MF's ``Metadata/*.config``."""
    import defusedxml.ElementTree as ET

    found: dict[str, None] = {}
    try:
        zf = zipfile.ZipFile(data)
    except (zipfile.BadZipFile, OSError):
        return []
    with zf:
        for member in ("Metadata/slice_info.config", "Metadata/model_settings.config"):
            try:
                info = zf.getinfo(member)
            except KeyError:
                continue
            if info.file_size > 16 << 20:
                continue
            try:
                root = ET.fromstring(zf.read(info))
            except Exception:  # malformed or hostile XML: nothing to learn from it
                continue
            for el in root.iter("object"):
                if el.get("name"):
                    found.setdefault(el.get("name") or "", None)
            for el in root.iter("metadata"):
                if el.get("key") in ("name", "source_file") and el.get("value"):
                    found.setdefault(el.get("value") or "", None)
    return [n for n in found if n]


def names_in(library: "Library", gcode: FileRecord) -> list[str]:
    """The names ``gcode`` says it was sliced from (empty when it says none)."""
    try:
        with library.open_file(gcode) as fh:
            if gcode.format == "gcode.3mf":
                return names_in_gcode3mf(fh if fh.seekable() else io.BytesIO(fh.read()))
            if gcode.format != "gcode":
                return []
            head = fh.read(HEAD_BYTES)
            tail = b""
            size = gcode.size_bytes or 0
            if size > HEAD_BYTES and fh.seekable():
                fh.seek(max(HEAD_BYTES, size - TAIL_BYTES))
                tail = fh.read(TAIL_BYTES)
    except OSError:
        return []
    return names_in_gcode_text(head + b"\n" + tail)


def _by_name(gcode: FileRecord, candidates: list[FileRecord]) -> list[FileRecord]:
    """Candidates of the G-code's own model whose stem starts its file name (the longest wins)."""
    name = gcode.name.lower()
    for ext in (".gcode.3mf", ".bgcode", ".gcode"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    gstem = stem(name)
    best: list[FileRecord] = []
    best_len = 0
    for cand in candidates:
        if cand.model_id != gcode.model_id:
            continue
        cstem = stem(cand.name)
        if len(cstem) < 3 or not gstem.startswith(cstem):
            continue
        if len(cstem) > best_len:
            best, best_len = [cand], len(cstem)
        elif len(cstem) == best_len:
            best.append(cand)
    return best


def sources_for(library: "Library", gcode: FileRecord, candidates: list[FileRecord]) -> list[tuple[FileRecord, str]]:
    """The files ``gcode`` was sliced from, among ``candidates`` (same root), with how each was found."""
    names = names_in(library, gcode)
    how = "source" if gcode.format == "gcode" and any(re.search(r"[\\/]", n) for n in names) else "object"
    found: list[tuple[FileRecord, str]] = []
    by_stem: dict[str, list[FileRecord]] = {}
    by_name: dict[str, list[FileRecord]] = {}
    for cand in candidates:
        by_stem.setdefault(stem(cand.name), []).append(cand)
        by_name.setdefault(cand.name.lower(), []).append(cand)
    for name in names:
        base = re.split(r"[\\/]", name.strip().strip('"'))[-1].lower()
        # the whole name first (torus.stl, not torus.3mf), then the name without its extension
        for matches in (by_name.get(base, []), by_stem.get(stem(name), [])):
            own = [c for c in matches if c.model_id == gcode.model_id]
            if own:
                found.extend((c, how) for c in own)
                break
            if len(matches) == 1:
                found.append((matches[0], how))
                break
            if matches:
                break  # several files elsewhere in the root have that name: none is linked
    if not found:
        found = [(c, "name") for c in _by_name(gcode, candidates)]
    unique: dict[int, tuple[FileRecord, str]] = {}
    for rec, h in found:
        unique.setdefault(rec.id, (rec, h))
    return list(unique.values())


def link_sliced(library: "Library", gcodes: Iterable[FileRecord] | None = None) -> int:
    """Link G-code files to the files they were sliced from; how many links were made.

    :param gcodes: the G-code files to look at (default: every present one not linked yet).
    """
    todo = list(library.store.slice_links.unlinked_gcodes() if gcodes is None else gcodes)
    todo = [g for g in todo if g.format in SLICED_FORMATS and not g.missing]
    made = 0
    by_root: dict[int | None, list[FileRecord]] = {}
    for gcode in todo:
        if gcode.root_id not in by_root:
            by_root[gcode.root_id] = library.store.slice_links.candidates(gcode.root_id)
        for source, how in sources_for(library, gcode, by_root[gcode.root_id]):
            made += library.store.slice_links.link(gcode.id, source.id, how)
    return made


def link(library: "Library", gcode: int | str, source: int | str, how: str = "manual") -> bool:
    """Link one G-code file to the file it was sliced from, by hand; False when linked already."""
    from ..errors import UsageError

    g, s = library.file(gcode), library.file(source)
    if g.format not in SLICED_FORMATS:
        raise UsageError(f"{g.name} is not a sliced file (G-code, .bgcode or .gcode.3mf)")
    if s.format in SLICED_FORMATS:
        raise UsageError(f"{s.name} is sliced itself; link a G-code file to the mesh it came from")
    if g.id == s.id:
        raise UsageError("a file cannot be sliced from itself")
    return library.store.slice_links.link(g.id, s.id, how, replace=how == "slice")
