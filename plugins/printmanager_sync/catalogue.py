"""The catalogue side of sync: what to upload, what the user edited, and rebuilding.

Paths in the container are never absolute: a file is ``<root key>/<relative
path>`` (archive members ``<root key>/<archive>!/<member>``), so a library can
be rebuilt under any folder on any machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import attrs

from printmanager_core.settings import now_iso

from .errors import IntegrityError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

ARCHIVE_SEP = "!/"
THUMBNAILS = "thumbnails"

#: catalogue tables copied by a restore, in dependency order
CATALOGUE_TABLES = ("roots", "models", "files", "tags", "file_tags", "model_tags", "collections", "collection_models")
#: columns that name a place or a row id, not a fact about the file
_FILE_SKIP = {"id", "root_id", "model_id", "path", "archive_path", "thumbnail_path", "scanned_at", "mtime_ns"}
_MODEL_SKIP = {"id", "root_id", "path"}
MODEL_FIELDS = ("name", "creator", "source_url", "licence", "notes")


@attrs.frozen
class LocalFile:
    """A file on disk that belongs in the container."""

    path: str
    root: str  # root key
    rel: str  # posix path relative to the root

    @property
    def key(self) -> str:
        return f"{self.root}/{self.rel}"


def relative(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators (archive members kept), or None outside it."""
    member = ""
    if ARCHIVE_SEP in path:
        path, member = path.split(ARCHIVE_SEP, 1)
    root = root.rstrip("/\\")
    if path == root:
        rel = "."
    elif path.startswith(root) and path[len(root)] in "/\\":
        rel = "/".join(p for p in re.split(r"[\\/]", path[len(root) + 1 :]) if p)
    else:
        return None
    return rel + (ARCHIVE_SEP + member if member else "")


#: characters Windows refuses in a file name (besides the separators and control characters)
_WINDOWS_RESERVED = frozenset('<>:"|?*')


def _bad_component(part: str) -> str | None:
    """Why ``part`` cannot be one component of a restored path on this system, or None."""
    if part in ("", ".", ".."):
        return "an empty, '.' or '..' component"
    if "\\" in part:
        return "a backslash"
    if "\x00" in part:
        return "a NUL character"
    try:
        os.fsencode(part)
    except UnicodeEncodeError:
        return "a character this system cannot put in a file name"
    if os.name == "nt" and (any(c in _WINDOWS_RESERVED or ord(c) < 32 for c in part) or part[-1] in " ."):
        return "a character Windows does not allow in a file name"
    return None


def safe_join(base: Path, rel: str) -> Path:
    """``base``/``rel`` for a relative ``/`` path; :class:`IntegrityError` if it would leave
    ``base`` or names something no file can be called (a NUL, an unencodable character)."""
    if rel == ".":
        return base
    if not isinstance(rel, str):
        raise IntegrityError(f"unsafe path in snapshot: a {type(rel).__name__}, not text")
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        raise IntegrityError(f"unsafe path in snapshot: {rel!r} (absolute)")
    parts = rel.split("/")
    for part in parts:
        why = _bad_component(part)
        if why:
            raise IntegrityError(f"unsafe path in snapshot: {rel!r} ({why})")
    return base.joinpath(*parts)


def root_folders(snapshot: dict[str, Any]) -> dict[str, str]:
    """Root key -> a folder name for it (the root's name, made safe and unique)."""
    used: set[str] = set()
    out = {}
    for root in snapshot.get("roots", []):
        name = "".join(c for c in (root.get("name") or "root") if c not in '<>:"/\\|?*').strip(" .") or "root"
        candidate, n = name, 2
        while candidate.lower() in used:
            candidate, n = f"{name}-{n}", n + 1
        used.add(candidate.lower())
        out[root["key"]] = candidate
    return out


def root_databases(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The snapshot's roots grouped by the database backup that catalogues them:
    ``{blob: {"database", "library_dir", "roots": {root key: that device's root path}}}``."""
    groups: dict[str, dict[str, Any]] = {}
    for root in snapshot.get("roots", []):
        db = root.get("database") or snapshot.get("database")
        if not db:
            continue
        group = groups.setdefault(
            db["blob"], {"database": db, "library_dir": root.get("library_dir", snapshot.get("library_dir")), "roots": {}}
        )
        group["roots"][root["key"]] = root["path"]
    return groups


class RootGuard:
    """Whether a path, every symlink resolved, lies inside a folder (a root, the thumbnail cache).

    Sync uploads a file only when it lies inside its root: a symlink in a model pack that
    points at ``~/.ssh/id_rsa`` (or a linked folder that leads out of the root) is never read.
    Resolved folders are cached, so a file costs one ``lstat``.
    """

    def __init__(self) -> None:
        self._real: dict[str, str] = {}

    def _real_dir(self, folder: str) -> str:
        real = self._real.get(folder)
        if real is None:
            real = self._real[folder] = os.path.realpath(folder)
        return real

    def inside(self, path: str, folder: str) -> bool:
        """True if ``path`` (resolved) is inside ``folder`` (resolved), not the folder itself."""
        base = self._real_dir(folder)
        parent, name = os.path.split(path)
        real = os.path.join(self._real_dir(parent), name)
        if name in ("", ".", "..") or os.path.islink(real):
            real = os.path.realpath(real)
        return real.startswith(base.rstrip(os.sep) + os.sep)


def from_db(value: Any) -> Any:
    """A path as the catalogue stored it -> the ``str`` exactly as ``os`` gives it.

    The one place sync reads a path column (``roots.path``, ``files.path``,
    ``files.archive_path``, ``files.thumbnail_path``, ``models.path``). A name that is not
    valid UTF-8 cannot be SQLite text: it is stored as a BLOB of its exact bytes.
    """
    return os.fsdecode(value) if isinstance(value, bytes) else value


def to_db(path: Any) -> Any:
    """A path (``os`` ``str``) as a catalogue column value: text, or its exact bytes when it
    has undecodable bytes (the inverse of :func:`from_db`)."""
    if isinstance(path, str):
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(path)
    return path


def root_paths(library: "Library") -> dict[int, str]:
    """Root id -> root path."""
    return {r[0]: from_db(r[1]) for r in library.db.execute("select id, path from roots")}


def local_files(library: "Library", root_keys: dict[str, str]) -> list[LocalFile]:
    """The distinct files on disk behind the catalogue's present entries."""
    roots = root_paths(library)
    seen: dict[str, LocalFile] = {}
    rows = library.db.execute(
        "select distinct coalesce(archive_path, path), root_id from files where missing = 0 and root_id is not null"
    )
    for disk, root_id in rows:
        disk = from_db(disk)
        root = roots.get(root_id)
        if root is None or root not in root_keys or disk in seen:
            continue
        rel = relative(disk, root)
        if rel is None or rel == "." or ARCHIVE_SEP in rel:
            continue
        seen[disk] = LocalFile(disk, root_keys[root], rel)
    return sorted(seen.values(), key=lambda f: f.key)


def thumbnail_files(library: "Library") -> list[tuple[str, str]]:
    """``(absolute path, path relative to the thumbnails folder)`` of every cached thumbnail."""
    base = library.directory / THUMBNAILS
    guard = RootGuard()
    out = []
    if base.is_dir():
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                full = os.path.join(dirpath, name)
                if guard.inside(full, str(base)):  # a planted symlink out of the cache is not followed
                    out.append((full, Path(full).relative_to(base).as_posix()))
    return out


def _keys(library: "Library", root_keys: dict[str, str]) -> tuple[dict[int, str], dict[int, str]]:
    """file id -> key and model id -> key for rows under synced roots."""
    roots = root_paths(library)
    files, models = {}, {}
    for fid, path, root_id in library.db.execute("select id, path, root_id from files"):
        path = from_db(path)
        root = roots.get(root_id)
        if root in root_keys:
            rel = relative(path, root)
            if rel is not None:
                files[fid] = f"{root_keys[root]}/{rel}"
    for mid, path, root_id in library.db.execute("select id, path, root_id from models"):
        path = from_db(path)
        root = roots.get(root_id)
        if root in root_keys:
            rel = relative(path, root)
            if rel is not None:
                models[mid] = f"{root_keys[root]}/{rel}"
    return files, models


def fingerprint(library: "Library", root_keys: dict[str, str]) -> str:
    """SHA-256 over the catalogue's facts, independent of ids, absolute paths and mtimes."""
    file_keys, model_keys = _keys(library, root_keys)
    h = hashlib.sha256()
    cur = library.db.execute("select * from files")
    cols = [d[0] for d in cur.description]
    rows = []
    for row in cur:
        d = dict(zip(cols, row))
        key = file_keys.get(d["id"])
        if key is None:
            continue
        d["model"] = model_keys.get(d.get("model_id"))
        rows.append((key, {k: v for k, v in d.items() if k not in _FILE_SKIP}))
    cur = library.db.execute("select * from models")
    mcols = [d[0] for d in cur.description]
    for row in cur:
        d = dict(zip(mcols, row))
        key = model_keys.get(d["id"])
        if key is not None:
            rows.append(("model:" + key, {k: v for k, v in d.items() if k not in _MODEL_SKIP}))
    rows.sort(key=lambda r: r[0])
    for key, d in rows:
        h.update(json.dumps([key, d], sort_keys=True, default=str).encode())
    h.update(json.dumps(user_meta(library, root_keys)["collections"], sort_keys=True).encode())
    return h.hexdigest()


def user_meta(library: "Library", root_keys: dict[str, str]) -> dict[str, Any]:
    """What the user edits, keyed by container path: file tags and notes, model fields and
    tags, collections. The part of the catalogue that devices merge."""
    file_keys, model_keys = _keys(library, root_keys)
    files: dict[str, Any] = {}
    for fid, tags, notes in library.db.execute("select id, tags, notes from files where missing = 0"):
        key = file_keys.get(fid)
        if key is None:
            continue
        entry: dict[str, Any] = {}
        if tags:
            entry["tags"] = sorted(tags.split())
        if notes:
            entry["notes"] = notes
        if entry:
            files[key] = entry
    models: dict[str, Any] = {}
    for row in library.db.execute(
        f"select id, tags, {', '.join(MODEL_FIELDS)} from models where missing = 0"
    ):
        key = model_keys.get(row[0])
        if key is None:
            continue
        entry = {f: row[2 + i] for i, f in enumerate(MODEL_FIELDS) if row[2 + i] not in (None, "")}
        if row[1]:
            entry["tags"] = sorted(row[1].split())
        models[key] = entry
    collections: dict[str, Any] = {}
    for cid, name, description in library.db.execute("select id, name, description from collections"):
        members = sorted(
            model_keys[m]
            for (m,) in library.db.execute("select model_id from collection_models where collection_id = ?", [cid])
            if m in model_keys
        )
        collections[name] = {"description": description or "", "models": members}
    return {"files": files, "models": models, "collections": collections}


def backup_database(library: "Library", dest: str | os.PathLike[str]) -> None:
    """A consistent copy of the library database (SQLite online backup API)."""
    Path(dest).unlink(missing_ok=True)
    target = sqlite3.connect(str(dest))
    try:
        library.db.conn.backup(target)
        # Local sync bookkeeping means nothing on another machine.
        with target:
            for table in ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs"):
                try:
                    target.execute(f"delete from {table}")
                except sqlite3.OperationalError:
                    pass
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()


# -- rebuilding --------------------------------------------------------------------


def _columns(db: Any, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"pragma table_info([{table}])").fetchall()]


def _translate(path: str | None, src_root: str, dest_root: Path) -> str | None:
    if path is None:
        return None
    rel = relative(path, src_root)
    if rel is None:
        return None
    member = ""
    if ARCHIVE_SEP in rel:
        rel, member = rel.split(ARCHIVE_SEP, 1)
    target = dest_root if rel == "." else safe_join(dest_root, rel)
    return str(target) + (ARCHIVE_SEP + member if member else "")


def import_catalogue(
    library: "Library",
    source_db: str | os.PathLike[str],
    roots: dict[str, Path],
    source_library_dir: str | None,
    *,
    only: set[str] | None = None,
) -> dict[str, int]:
    """Copy catalogue rows from a database backup into ``library``, moving them to new roots.

    :param roots: source root path -> the folder it now lives in.
    :param source_library_dir: the backup's library directory (thumbnail paths are moved too).
    :param only: disk paths (files or archives), as moved to the new roots, to import; default all.
    :returns: counts of rows added per table.
    """
    from printmanager_core.store import open_database

    src = open_database(source_db)  # brings an older backup's schema up to date
    dest = library.db
    added = {"roots": 0, "models": 0, "files": 0, "collections": 0}
    try:
        src_roots = {r[0]: from_db(r[1]) for r in src.execute("select id, path from roots")}
        root_ids: dict[int, tuple[int, str, Path]] = {}
        with dest.conn:
            for sid, spath in src_roots.items():
                if spath not in roots:
                    continue
                new_path = str(roots[spath])
                row = dest.execute("select id from roots where path = ?", [to_db(new_path)]).fetchone()
                if row is None:
                    rid = dest.execute(
                        "insert into roots (path, added_at) values (?, ?)", [to_db(new_path), now_iso()]
                    ).lastrowid
                    added["roots"] += 1
                else:
                    rid = row[0]
                root_ids[sid] = (int(rid), spath, roots[spath])

            thumbs_src = (source_library_dir or "").rstrip("/\\")
            thumbs_dest = str(library.directory)

            # models
            mcols = [c for c in _columns(src, "models") if c in set(_columns(dest, "models")) and c != "id"]
            model_ids: dict[int, int] = {}
            for row in src.execute(f"select id, {', '.join(mcols)} from models").fetchall():
                d = dict(zip(["id", *mcols], row))
                if d.get("root_id") not in root_ids:
                    continue
                rid, sroot, droot = root_ids[d["root_id"]]
                new_path = _translate(from_db(d["path"]), sroot, droot)
                if new_path is None:
                    continue
                existing = dest.execute("select id from models where path = ?", [to_db(new_path)]).fetchone()
                if existing:
                    model_ids[d["id"]] = existing[0]
                    continue
                d.update(root_id=rid, path=to_db(new_path))
                values = [d[c] for c in mcols]
                model_ids[d["id"]] = dest.execute(
                    f"insert into models ({', '.join(mcols)}) values ({', '.join('?' * len(mcols))})", values
                ).lastrowid
                added["models"] += 1

            # files
            fcols = [c for c in _columns(src, "files") if c in set(_columns(dest, "files")) and c != "id"]
            file_ids: dict[int, int] = {}
            for row in src.execute(f"select id, {', '.join(fcols)} from files").fetchall():
                d = dict(zip(["id", *fcols], row))
                if d.get("root_id") not in root_ids:
                    continue
                for col in ("path", "archive_path", "thumbnail_path"):
                    if col in d:
                        d[col] = from_db(d[col])
                rid, sroot, droot = root_ids[d["root_id"]]
                if only is not None and _translate(d.get("archive_path") or d["path"], sroot, droot) not in only:
                    continue
                new_path = _translate(d["path"], sroot, droot)
                if new_path is None:
                    continue
                if dest.execute("select 1 from files where path = ?", [to_db(new_path)]).fetchone():
                    continue
                thumb = d.get("thumbnail_path")
                if thumb and thumbs_src and thumb.startswith(thumbs_src):
                    rest = [p for p in re.split(r"[\\/]", thumb[len(thumbs_src) :]) if p]
                    thumb = str(Path(thumbs_dest).joinpath(*rest))
                elif thumb:
                    thumb = None
                d.update(
                    root_id=rid,
                    path=to_db(new_path),
                    archive_path=to_db(_translate(d.get("archive_path"), sroot, droot)),
                    model_id=model_ids.get(d.get("model_id")) if d.get("model_id") is not None else None,
                    thumbnail_path=to_db(thumb),
                )
                values = [d[c] for c in fcols]
                file_ids[d["id"]] = dest.execute(
                    f"insert into files ({', '.join(fcols)}) values ({', '.join('?' * len(fcols))})", values
                ).lastrowid
                added["files"] += 1

            # tags
            def tag_id(name: str) -> int:
                dest.execute("insert or ignore into tags (name) values (?)", [name])
                return int(dest.execute("select id from tags where name = ?", [name]).fetchone()[0])

            for fid, name in src.execute(
                "select file_tags.file_id, tags.name from file_tags join tags on tags.id = file_tags.tag_id"
            ).fetchall():
                if fid in file_ids:
                    dest.execute(
                        "insert or ignore into file_tags (file_id, tag_id) values (?, ?)", [file_ids[fid], tag_id(name)]
                    )
            for mid, name in src.execute(
                "select model_tags.model_id, tags.name from model_tags join tags on tags.id = model_tags.tag_id"
            ).fetchall():
                if mid in model_ids:
                    dest.execute(
                        "insert or ignore into model_tags (model_id, tag_id) values (?, ?)",
                        [model_ids[mid], tag_id(name)],
                    )

            # collections
            for cid, name, description, created in src.execute(
                "select id, name, description, created_at from collections"
            ).fetchall():
                members = [
                    model_ids[m]
                    for (m,) in src.execute(
                        "select model_id from collection_models where collection_id = ?", [cid]
                    ).fetchall()
                    if m in model_ids
                ]
                row = dest.execute("select id from collections where name = ?", [name]).fetchone()
                if row is None:
                    new = dest.execute(
                        "insert into collections (name, description, created_at) values (?, ?, ?)",
                        [name, description, created or now_iso()],
                    ).lastrowid
                    added["collections"] += 1
                else:
                    new = row[0]
                for m in members:
                    dest.execute(
                        "insert or ignore into collection_models (collection_id, model_id) values (?, ?)", [new, m]
                    )
    finally:
        src.close()
    return added


# -- applying merged edits -------------------------------------------------------------


def apply_meta(library: "Library", root_keys: dict[str, str], merged: dict[str, Any]) -> int:
    """Make the local catalogue's user edits equal ``merged`` (for entries present here).

    :returns: how many files, models and collections changed.
    """
    file_keys, model_keys = _keys(library, root_keys)
    current = user_meta(library, root_keys)
    by_file_key = {k: i for i, k in file_keys.items()}
    by_model_key = {k: i for i, k in model_keys.items()}
    changed = 0
    mfiles = merged.get("files", {})
    for key in set(current["files"]) | set(mfiles):
        if key not in by_file_key:
            continue
        have, want = current["files"].get(key, {}), mfiles.get(key, {})
        if have == want:
            continue
        fid = by_file_key[key]
        old_tags, new_tags = set(have.get("tags", [])), set(want.get("tags", []))
        if new_tags - old_tags:
            library.tag(fid, *sorted(new_tags - old_tags))
        if old_tags - new_tags:
            library.untag(fid, *sorted(old_tags - new_tags))
        if have.get("notes", "") != want.get("notes", ""):
            library.set_file_notes(fid, want.get("notes", ""))
        changed += 1
    mmodels = merged.get("models", {})
    for key, want in mmodels.items():
        if key not in by_model_key:
            continue
        have = current["models"].get(key, {})
        if have == want:
            continue
        mid = by_model_key[key]
        fields = {f: want.get(f, "") for f in MODEL_FIELDS if have.get(f, "") != want.get(f, "")}
        if fields.get("name") == "":
            fields.pop("name")  # a model always keeps a name
        if fields:
            library.update_model(mid, **fields)
        old_tags, new_tags = set(have.get("tags", [])), set(want.get("tags", []))
        if new_tags - old_tags:
            library.tag_model(mid, *sorted(new_tags - old_tags))
        if old_tags - new_tags:
            library.untag_model(mid, *sorted(old_tags - new_tags))
        changed += 1
    mcols = merged.get("collections", {})
    for name in set(current["collections"]) | set(mcols):
        have, want = current["collections"].get(name), mcols.get(name)
        if have == want:
            continue
        if want is None:
            library.delete_collection(name)
            changed += 1
            continue
        cid = library.create_collection(name, want.get("description", ""))
        with library.db.conn:
            library.db.execute("update collections set description = ? where id = ?", [want.get("description", ""), cid])
        have_models = set((have or {}).get("models", []))
        want_models = set(want.get("models", []))
        add = [by_model_key[k] for k in want_models - have_models if k in by_model_key]
        remove = [by_model_key[k] for k in have_models - want_models if k in by_model_key]
        if add:
            library.add_to_collection(name, *add)
        if remove:
            library.remove_from_collection(name, *remove)
        changed += 1
    return changed


def mark_missing(library: "Library", disk_paths: Iterable[str]) -> int:
    """Mark the catalogue entries of files moved away by a pull as missing."""
    count = 0
    with library.db.conn:
        for path in disk_paths:
            count += library.db.execute(
                "update files set missing = 1 where path = ? or archive_path = ?", [to_db(path), to_db(path)]
            ).rowcount
    return count
