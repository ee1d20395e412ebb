"""Manyfold's ``datapackage.json`` sidecars: read at scan into a model's empty fields,
written back only by ``printmanager sidecar write`` (docs/organise.md, "Sidecars").

A sidecar is the Frictionless Data Package that Manyfold keeps in a model's folder. What
we understand of it (:func:`fields_of`) fills only the model's *empty* fields, and only when
the file's content hash differs from the one recorded last time (``models.sidecar_hash``),
so a tag the user removed does not come back on every scan. Writing merges our fields into
the JSON already there: every key we do not understand (``sensitive``, ``collections``…,
and a resource's ``presupported``, ``up``…) stays as it was; ``resources`` lists the model's
files (:func:`merged_resources`). A sidecar that cannot be used is skipped and recorded as a
``sidecar-unreadable`` problem (:func:`import_all`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .library import Library
    from .records import ModelRecord

#: the sidecar's file name in a model's folder
SIDECAR_NAME = "datapackage.json"
#: the profile Manyfold writes as ``$schema`` (set only on a sidecar we create)
SCHEMA = "https://manyfold.app/profiles/0.0/datapackage.json"
#: a sidecar larger than this is not read (a data package is a few kB)
MAX_BYTES = 4 * 1024 * 1024


def content_hash(data: bytes) -> str:
    """The SHA-256 of a sidecar's bytes, as recorded in ``models.sidecar_hash``."""
    return hashlib.sha256(data).hexdigest()


def keyword_tag(keyword: str) -> str:
    """A keyword as a tag: trimmed, inner whitespace runs as one hyphen (tags are one word)."""
    return re.sub(r"\s+", "-", keyword.strip())


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def fields_of(package: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """What we understand of a data package: ``(model fields, tags)``.

    ``title``, ``caption``, ``description``; ``licenses[0].name`` (else its ``path``) as
    the licence; the first contributor whose ``roles`` include ``creator`` (its ``title``)
    as the creator; ``homepage`` (else ``links[0].path``) as the source URL; ``keywords``
    as tags (spaces become hyphens).
    """
    fields: dict[str, str] = {}
    for key in ("title", "caption", "description"):
        if (v := _text(package.get(key))) is not None:
            fields[key] = v
    licences = package.get("licenses")
    if isinstance(licences, list) and licences and isinstance(licences[0], dict):
        if (v := _text(licences[0].get("name")) or _text(licences[0].get("path"))) is not None:
            fields["licence"] = v
    for person in package.get("contributors") or ():
        roles = person.get("roles") if isinstance(person, dict) else None
        if isinstance(roles, list) and "creator" in roles and (v := _text(person.get("title"))) is not None:
            fields["creator"] = v
            break
    links = package.get("links")
    first_link = links[0].get("path") if isinstance(links, list) and links and isinstance(links[0], dict) else None
    if (v := _text(package.get("homepage")) or _text(first_link)) is not None:
        fields["source_url"] = v
    keywords = package.get("keywords")
    tags = []
    if isinstance(keywords, list):
        tags = list(dict.fromkeys(t for k in keywords if isinstance(k, str) and (t := keyword_tag(k))))
    return fields, tags


class Unusable(Exception):
    """Why a sidecar cannot be used, in one line (the ``sidecar-unreadable`` problem's detail)."""


def _a(value: Any) -> str:
    """What a JSON value is, for people: ``an object``, ``a list``, ``text``…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


#: the keys we read or write whose value must be text (or null)
_TEXT_KEYS = ("name", "title", "caption", "description", "homepage")
#: the keys we read or write whose value must be a list of objects (null items allowed: Manyfold writes
#: one in ``resources`` for the sidecar itself)
_OBJECT_LISTS = ("licenses", "contributors", "links", "resources")


def shape_problem(package: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a data package in the keys we understand, or None.

    Text keys (``name``, ``title``, ``caption``, ``description``, ``homepage``) must be text;
    ``keywords`` a list of text; ``licenses``, ``contributors``, ``links`` and ``resources``
    lists of objects, a resource's ``path`` text. Keys we do not understand may hold anything.
    """
    for key in _TEXT_KEYS:
        value = package.get(key)
        if value is not None and not isinstance(value, str):
            return f"'{key}' is {_a(value)}, not text"
    keywords = package.get("keywords")
    if keywords is not None:
        if not isinstance(keywords, list):
            return f"'keywords' is {_a(keywords)}, not a list"
        for k in keywords:
            if not isinstance(k, str):
                return f"'keywords' holds {_a(k)}, not only text"
    for key in _OBJECT_LISTS:
        value = package.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            return f"'{key}' is {_a(value)}, not a list"
        for i, item in enumerate(value, 1):
            if item is not None and not isinstance(item, dict):
                return f"'{key}' item {i} is {_a(item)}, not an object"
            if key == "resources" and item is not None and not isinstance(item.get("path", ""), str):
                return f"resource {i} has a 'path' that is {_a(item.get('path'))}, not text"
    return None


def read(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The bytes and the data package of the sidecar at ``path``.

    Like the scan, it never follows a symbolic link and reads only a regular file
    (opened without blocking, so a FIFO cannot hang it).

    :raises FileNotFoundError: there is no sidecar.
    :raises Unusable: it cannot be used (unreadable, over :data:`MAX_BYTES`, not JSON,
        not an object, or the wrong shape, see :func:`shape_problem`), with a one-line reason.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise Unusable(f"cannot be read: {e.strerror or e}") from None
    if stat.S_ISLNK(st.st_mode):
        raise Unusable("a symbolic link (not followed)")
    if not stat.S_ISREG(st.st_mode):
        raise Unusable("not a regular file")
    too_big = f"over the size limit ({st.st_size:,} bytes; at most {MAX_BYTES:,})"
    if st.st_size > MAX_BYTES:
        raise Unusable(too_big)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise Unusable("not a regular file")
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise Unusable(f"cannot be read: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise Unusable(too_big)
    try:
        package = json.loads(data)
    except json.JSONDecodeError as e:
        raise Unusable(f"not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise Unusable("not JSON: not UTF-8 text") from None
    except (ValueError, RecursionError) as e:
        raise Unusable(f"not JSON: {_one_line(str(e)) or 'nested too deeply'}") from None
    if not isinstance(package, dict):
        raise Unusable(f"not a JSON object but {_a(package)}")
    why = shape_problem(package)
    if why is not None:
        raise Unusable(f"not a data package: {why}")
    return data, package


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"


#: the kind of problem a sidecar that cannot be used is recorded as (docs/problems.md)
PROBLEM_KIND = "sidecar-unreadable"


def import_all(library: Library, *, walked: Iterable[str] = (), seen: Iterable[str] | None = None) -> int:
    """Take in every folder model's sidecar whose content changed since last time; how many.

    A sidecar that cannot be used (:func:`read`) is skipped, and recorded as a
    ``sidecar-unreadable`` problem of its model with the reason; every such problem
    is replaced on each call, so one whose file was fixed or removed goes away.

    :param walked: folders a scan walked in full just now, and
    :param seen: the folders among them it saw a ``datapackage.json`` in: the model
        folders inside ``walked`` that are not in ``seen`` have none, and are not opened.
    """
    from .clock import now_iso
    from .paths import display_path, is_within
    from .store.problems import ProblemRow

    store = library.store
    taken = 0
    unusable: list[ProblemRow] = []
    inside = [display_path(str(w)) for w in walked] if seen is not None else []
    holding = {display_path(str(f)) for f in seen or ()}
    for model_id, root_id, folder, known in store.models.sidecar_candidates():
        if inside and folder not in holding and any(is_within(folder, w) for w in inside):
            continue  # walked just now, and no sidecar there
        path = Path(folder) / SIDECAR_NAME
        try:
            data, package = read(path)
        except FileNotFoundError:
            continue
        except Unusable as why:
            unusable.append(ProblemRow(PROBLEM_KIND, path=display_path(str(path)), model_id=model_id,
                                       root_id=root_id, detail=f"skipped: {why}"))
            continue  # the model keeps what it has
        digest = content_hash(data)
        if digest == known:
            continue  # the same sidecar as last time: what the user changed since stays changed
        fields, tags = fields_of(package)
        with store.transaction():
            store.models.fill_from_sidecar(model_id, fields, digest)
            if tags:
                names = store.tags.change("model", model_id, tags, add=True)
                store.models.set_tags_text(model_id, names)
        taken += 1
    with store.transaction():
        store.problems.replace_kinds((PROBLEM_KIND,), unusable, now_iso())
    return taken


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "model"


def merged(package: dict[str, Any], model: ModelRecord, files: Sequence[str] | None = None,
           still_there: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """``package`` with the model's fields merged in (a new dict; keys we do not know kept as they are).

    A field the model has no value for leaves the sidecar's value alone; a keyword,
    licence, creator or link already saying the same thing keeps its spelling.
    With ``files`` (the model's files, relative POSIX paths), ``resources`` is
    brought up to date as :func:`merged_resources` says.
    """
    out = dict(package)
    if not out:
        out["$schema"] = SCHEMA
    if not _text(out.get("name")):
        out["name"] = _slug(model.name)
    for key in ("title", "caption", "description"):
        value = getattr(model, key)
        if value:
            out[key] = value
    if model.tags:
        old = [k for k in out.get("keywords") or () if isinstance(k, str)]
        kept = [k for k in old if keyword_tag(k) in model.tags]
        covered = {keyword_tag(k) for k in kept}
        out["keywords"] = kept + [t for t in model.tags if t not in covered]
    elif "keywords" in out:
        out["keywords"] = []
    if model.licence:
        licences = [x for x in out.get("licenses") or () if isinstance(x, dict)]
        first = licences[0] if licences else {}
        if model.licence not in (first.get("name"), first.get("path")):
            out["licenses"] = [{"name": model.licence}] + licences[1:]
    if model.creator:
        people = list(out.get("contributors") or ())
        for i, person in enumerate(people):
            if isinstance(person, dict) and "creator" in (person.get("roles") or ()):
                if person.get("title") != model.creator:
                    people[i] = {**person, "title": model.creator}
                break
        else:
            people.append({"title": model.creator, "roles": ["creator"]})
        out["contributors"] = people
    if model.source_url:
        links = out.get("links")
        first_link = links[0].get("path") if isinstance(links, list) and links and isinstance(links[0], dict) else None
        if out.get("homepage") != model.source_url and not (not out.get("homepage") and first_link == model.source_url):
            out["homepage"] = model.source_url
    if files is not None:
        out["resources"] = merged_resources(out.get("resources") or [], files, still_there)
    return out


#: a file's media type by its (last) extension: the types Manyfold's data packages use
#: (IANA types where there is one, its registered ``x-`` types otherwise); unknown ones get none
MEDIA_TYPES: dict[str, str] = {
    "stl": "model/stl", "3mf": "model/3mf", "obj": "model/obj", "mtl": "model/mtl", "ply": "model/x-ply",
    "amf": "application/x-amf", "glb": "model/gltf", "gltf": "model/gltf", "step": "model/step",
    "stp": "model/step", "igs": "model/iges", "iges": "model/iges", "3ds": "application/x-3ds",
    "dae": "model/vnd.collada+xml", "wrl": "model/vrml", "x3d": "model/x3d", "fbx": "model/x-fbx",
    "blend": "model/x-blender", "fcstd": "model/x-freecad", "f3d": "model/x-fusion", "f3z": "model/x-fusion",
    "brep": "model/x-brep", "skp": "model/x-sketchup", "scad": "application/x-openscad",
    "mix": "model/x-meshmixer", "dwg": "image/vnd.dwg", "dxf": "image/vnd.dxf",
    "gcode": "text/x-gcode", "bgcode": "text/x-gcode", "lys": "model/x-lychee", "lyt": "model/x-lychee",
    "ctb": "model/x-chitubox",
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "svg": "image/svg+xml", "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    "txt": "text/plain", "md": "text/markdown", "pdf": "application/pdf", "html": "text/html",
    "htm": "text/html", "json": "application/json", "csv": "text/csv",
    "zip": "application/zip", "rar": "application/vnd.rar", "7z": "application/x-7z-compressed",
}


def media_type(name: str) -> str | None:
    """The media type of a file name (:data:`MEDIA_TYPES`, by its last extension), or None."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return MEDIA_TYPES.get(ext)


def resource_name(path: str) -> str:
    """A resource's ``name`` as Manyfold makes it: the file's stem, lower case, runs of anything
    but letters, digits, ``-`` and ``_`` as one hyphen (``M3 nut (v2).stl`` → ``m3-nut-v2``)."""
    stem = path.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    ascii_ = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9_-]+", "-", ascii_.lower())).strip("-") or "file"


def resource(path: str) -> dict[str, Any]:
    """A new ``resources`` entry for the file at ``path`` (relative, POSIX): name, path, media type."""
    entry: dict[str, Any] = {"name": resource_name(path), "path": path}
    if (kind := media_type(path)) is not None:
        entry["mediatype"] = kind
    return entry


def _is_url(path: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", path, re.I))


def _normal(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path


def merged_resources(old: Sequence[Any], files: Sequence[str],
                     still_there: Callable[[str], bool] | None = None) -> list[Any]:
    """A sidecar's ``resources`` brought up to date with the model's ``files`` (relative POSIX paths).

    An entry for a file of the model is kept as it is (its ``presupported``, ``up``,
    ``units``… and its order), with a ``name`` and ``mediatype`` added if it has none;
    an entry whose file is gone (not a file of the model, and ``still_there(path)``
    false) is dropped, as are ``null`` entries and repeats of a path; an entry that
    is a URL or has no ``path`` is kept. Files not listed yet are added, in order.
    """
    present = set(files)
    listed: set[str] = set()
    out: list[Any] = []
    for entry in old:
        if entry is None:
            continue  # Manyfold lists the sidecar itself as null
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or _is_url(path):
            out.append(entry)
            continue
        rel = _normal(path)
        if rel in listed:
            continue
        if rel not in present and not (still_there is not None and still_there(rel)):
            continue  # the file is no longer there
        listed.add(rel)
        if "name" not in entry or ("mediatype" not in entry and media_type(rel)):
            entry = {**resource(rel), **entry}
        out.append(entry)
    out += [resource(f) for f in files if f not in listed]
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file in the same folder, fsync, ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems cannot fsync a folder
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class Written:
    """What ``sidecar write`` did for one model: written (``path``) or skipped (``reason``)."""

    model_id: int
    path: str
    written: bool
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        """The ``sidecar write --json`` shape of one model."""
        d: dict[str, Any] = {"id": self.model_id, "path": self.path, "written": self.written}
        if self.reason:
            d["reason"] = self.reason
        return d


def resource_paths(folder: Path, paths: Iterable[str]) -> list[str]:
    """The paths of a model's files as a sidecar lists them: relative to ``folder``, POSIX, in order;
    the sidecar itself, hidden files, archive members, files outside the folder and names that are
    not text (undecodable bytes) left out."""
    out = []
    for p in paths:
        if "!/" in p:
            continue  # a member of an archive
        try:
            rel = Path(p).relative_to(folder).as_posix()
            rel.encode("utf-8")
        except (ValueError, UnicodeEncodeError):
            continue
        if rel == SIDECAR_NAME or any(part.startswith(".") for part in rel.split("/")):
            continue
        out.append(rel)
    return sorted(out)


def write(library: Library, model: ModelRecord) -> Written:
    """Merge the model's fields into its folder's sidecar (created if absent), atomically."""
    from .paths import display_path

    if model.kind != "folder":
        return Written(model.id, display_path(model.path), False, f"a {model.kind} model has no folder")
    folder = Path(model.path)
    path = folder / SIDECAR_NAME
    package: dict[str, Any] = {}
    try:
        package = read(path)[1]
    except FileNotFoundError:
        pass
    except Unusable as why:
        return Written(model.id, display_path(str(path)), False, f"the {SIDECAR_NAME} there cannot be used: {why}")
    files = resource_paths(folder, (f.path for f in library.model_files(model.id)))
    package = merged(package, model, files, lambda rel: os.path.lexists(folder / rel))
    data = (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode()
    write_atomic(path, data)
    # what we wrote is what the model holds: a rescan has nothing to take in from it
    library.store.models.set_sidecar_hash(model.id, content_hash(data))
    return Written(model.id, display_path(str(path)), True)
