"""Manyfold's ``datapackage.json`` sidecars: read at scan into a model's empty fields,
written back only by ``printmanager sidecar write`` (docs/organise.md, "Sidecars").

A sidecar is the Frictionless Data Package that Manyfold keeps in a model's folder. What
we understand of it (:func:`fields_of`) fills only the model's *empty* fields, and only when
the file's content hash differs from the one recorded last time (``models.sidecar_hash``),
so a tag the user removed does not come back on every scan. Writing merges our fields into
the JSON already there: every key we do not understand (``resources`` with their
``presupported``, ``sensitive``, ``collections``…) stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def _read(path: Path) -> tuple[bytes, dict[str, Any]] | None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
        package = json.loads(data)
    except (OSError, ValueError):
        return None  # unreadable or not JSON: the model keeps what it has
    return (data, package) if isinstance(package, dict) else None


def import_all(library: Library) -> int:
    """Take in every folder model's sidecar whose content changed since last time; how many."""
    store = library.store
    taken = 0
    for model_id, folder, known in store.models.sidecar_candidates():
        path = Path(folder) / SIDECAR_NAME
        if not path.is_file():
            continue
        read = _read(path)
        if read is None:
            continue
        data, package = read
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
    return taken


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "model"


def merged(package: dict[str, Any], model: ModelRecord) -> dict[str, Any]:
    """``package`` with the model's fields merged in (a new dict; keys we do not know kept as they are).

    A field the model has no value for leaves the sidecar's value alone; a keyword,
    licence, creator or link already saying the same thing keeps its spelling.
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


def write(library: Library, model: ModelRecord) -> Written:
    """Merge the model's fields into its folder's sidecar (created if absent), atomically."""
    from .paths import display_path

    if model.kind != "folder":
        return Written(model.id, display_path(model.path), False, f"a {model.kind} model has no folder")
    path = Path(model.path) / SIDECAR_NAME
    package: dict[str, Any] = {}
    if path.exists():
        read = _read(path)
        if read is None:
            return Written(model.id, display_path(str(path)), False, "the sidecar there is not a JSON object")
        package = read[1]
    data = (json.dumps(merged(package, model), indent=2, ensure_ascii=False) + "\n").encode()
    write_atomic(path, data)
    # what we wrote is what the model holds: a rescan has nothing to take in from it
    library.store.models.set_sidecar_hash(model.id, content_hash(data))
    return Written(model.id, display_path(str(path)), True)
