"""Making a bundle: what a TARGET holds, the manifest, and the encrypted objects.

A TARGET is ``file:ID`` (or a bare id), ``model:ID``, ``collection:NAME`` or
``query:TEXT``. The bundle holds the files with their thumbnails and a signed
manifest (``docs/sharing.md``, "Bundle format").
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from printmanager_core.errors import NotFound, UsageError

from . import container as names
from .errors import ShareError
from .keys import SIGNATURE_CONTEXT, SharerKeys, b64u, fingerprint

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord

    from .container import ShareContainer

FORMAT = "printmanager-share/1"
KINDS = ("file", "model", "collection", "query")
_MEDIA = {".stl": "model/stl", ".3mf": "model/3mf", ".obj": "model/obj", ".gcode": "text/x.gcode",
          ".bgcode": "application/x.bgcode", ".step": "model/step", ".stp": "model/step", ".png": "image/png",
          ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".zip": "application/zip", ".txt": "text/plain"}


@attrs.frozen
class SharedFile:
    """One file going into a bundle: the catalogue record and its path inside the share."""

    record: "FileRecord"
    path: str
    licence: str = ""
    creator: str = ""
    model: str = ""


@attrs.frozen
class Target:
    """What a share holds: its kind, the id (0 for a query), a label and the files."""

    kind: str
    id: int
    label: str
    files: tuple[SharedFile, ...]


def _clean(text: str) -> str:
    """A name as valid UTF-8 text (undecodable bytes become U+FFFD)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def safe_relpath(text: str) -> str:
    """A relative POSIX path with no empty, ``.`` or ``..`` parts (what a reader may write)."""
    parts = [p for p in _clean(text).replace("\\", "/").replace("!/", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "file"


def _relative(file: "FileRecord", base: str | None) -> str:
    path = file.path
    if base and path.startswith(base.rstrip("/\\") + os.sep) and base != path:
        return safe_relpath(path[len(base.rstrip("/\\")) + 1:])
    if file.archive_path:
        return safe_relpath(path.split("!/", 1)[1])
    return safe_relpath(file.name)


def parse_target(text: str) -> tuple[str, str]:
    """``"model:12"`` -> ``("model", "12")``; a bare number is a file id."""
    text = text.strip()
    if text.isdigit():
        return "file", text
    kind, sep, value = text.partition(":")
    if not sep or kind not in KINDS or not value.strip():
        raise UsageError(f"a share target is file:ID, model:ID, collection:NAME or query:TEXT, not {text!r}")
    return kind, value.strip()


def resolve_target(library: "Library", target: str) -> Target:
    """The files a TARGET names (present files only); UsageError/NotFound if none."""
    kind, value = parse_target(target)
    models: dict[int, Any] = {}

    def model(mid: int | None) -> Any:
        if mid is None:
            return None
        if mid not in models:
            try:
                models[mid] = library.model(mid)
            except NotFound:
                models[mid] = None
        return models[mid]

    def shared(rec: "FileRecord", path: str) -> SharedFile:
        m = model(rec.model_id)
        return SharedFile(rec, path, (m.licence or "") if m else "", (m.creator or "") if m else "",
                          _clean(m.name) if m else "")

    files: list[SharedFile] = []
    if kind == "file":
        rec = library.file(int(value) if value.isdigit() else value)
        files, tid, label = [shared(rec, safe_relpath(rec.name))], rec.id, _clean(rec.name)
    elif kind == "model":
        m = library.model(int(value) if value.isdigit() else value)
        base = m.path if m.kind == "folder" else None
        files = [shared(f, _relative(f, base)) for f in library.model_files(m.id)]
        tid, label = m.id, _clean(m.name)
    elif kind == "collection":
        col = library.collection(value)
        for mid in col.models:
            m = model(mid)
            if m is None:
                continue
            base = m.path if m.kind == "folder" else None
            files += [shared(f, f"{safe_relpath(m.name)}/{_relative(f, base)}") for f in library.model_files(mid)]
        tid, label = col.id, _clean(col.name)
    else:
        files = [shared(f, safe_relpath(f.name)) for f in library.files(value)]
        tid, label = 0, value
    files = [f for f in files if not f.record.missing]
    if not files:
        raise UsageError(f"{target} holds no file to share")
    seen: set[str] = set()
    unique = []
    for n, f in enumerate(files):
        path = f.path
        if path.lower() in seen:
            head, tail = posixpath.split(path)
            path = posixpath.join(head, f"{n}-{tail}")
        seen.add(path.lower())
        unique.append(attrs.evolve(f, path=path))
    return Target(kind, int(tid), label, tuple(unique))


class _HashingReader(io.RawIOBase):
    """Reads a file for the encrypter while hashing and counting it."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _thumbnail(library: "Library", rec: "FileRecord") -> Path | None:
    """The cached thumbnail PNG of a file, when the thumbnails plugin can make one."""
    try:
        from printmanager_thumbnails import thumbnail
    except ImportError:
        return None
    try:
        return Path(thumbnail(library, rec).path)
    except Exception:  # a file that cannot be pictured is shared without one
        return None


def media_type(name: str) -> str:
    """The media type a file is offered as."""
    ext = os.path.splitext(name)[1].lower()
    return _MEDIA.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def upload_bundle(
    library: "Library",
    store: "ShareContainer",
    target: Target,
    *,
    share_id: str,
    recipients: list[Any],
    keys: SharerKeys,
    created_at: str,
    expires_at: str | None,
    creator_name: str = "",
    message: str = "",
    thumbnails: bool = True,
    tmp_dir: Path,
) -> dict[str, Any]:
    """Encrypt and store every file, thumbnail and the signed manifest; the manifest (a dict).

    On failure the objects stored so far are deleted.
    """

    files: list[dict[str, Any]] = []
    thumbs: list[dict[str, Any]] = []
    thumb_index: dict[str, int] = {}
    try:
        for n, item in enumerate(target.files):
            with library.open_file(item.record) as raw:
                reader = _HashingReader(raw)
                store.put_encrypted(names.file_name(share_id, n), reader, recipients, tmp_dir)  # type: ignore[arg-type]
            thumb_n = None
            png = _thumbnail(library, item.record) if thumbnails else None
            if png is not None and png.is_file():
                key = str(png)
                if key not in thumb_index:
                    data = png.read_bytes()
                    width, height = _png_size(data)
                    thumb_index[key] = len(thumbs)
                    store.put_bytes_encrypted(names.thumbnail_name(share_id, len(thumbs)), data, recipients)
                    thumbs.append({"n": len(thumbs), "media_type": "image/png", "width": width, "height": height,
                                   "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
                thumb_n = thumb_index[key]
            files.append({
                "n": n, "name": posixpath.basename(item.path), "path": item.path, "size": reader.size,
                "sha256": reader.sha256.hexdigest(), "media_type": media_type(item.path),
                "licence": _clean(item.licence), "creator": _clean(item.creator), "model": item.model,
                "thumbnail": thumb_n,
            })
        manifest = {
            "version": 1,
            "share_id": share_id,
            "title": target.label,
            "target": {"kind": target.kind, "label": target.label},
            "created_at": created_at,
            "expires_at": expires_at,
            "creator": {"name": creator_name, "key_fingerprint": fingerprint(keys.signing_public)},
            "message": message,
            "files": files,
            "thumbnails": thumbs,
            "total_size": sum(f["size"] for f in files),
        }
        store.put_bytes_encrypted(names.manifest_name(share_id), envelope(manifest, keys), recipients)
        return manifest
    except BaseException:
        try:
            store.delete_bundle(share_id)
        except Exception:  # the original error matters more; retention/revoke can clean up
            pass
        raise


def envelope(manifest: dict[str, Any], keys: SharerKeys) -> bytes:
    """The plaintext of ``manifest.age``: the manifest string, its signature and the public key."""
    text = json.dumps(manifest, ensure_ascii=False, sort_keys=True)
    signature = keys.sign(SIGNATURE_CONTEXT + text.encode("utf-8"))
    return json.dumps({
        "format": FORMAT,
        "manifest": text,
        "signature": {"alg": "ed25519", "public_key": b64u(keys.signing_public), "value": b64u(signature)},
    }, ensure_ascii=False).encode("utf-8")


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        raise ShareError("a thumbnail is not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
