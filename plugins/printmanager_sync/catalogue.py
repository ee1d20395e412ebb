"""The catalogue side of sync (:class:`Catalogue`): what to upload, what the user edited, and rebuilding.

Paths in the container are never absolute: a file is ``<root key>/<relative
path>`` (archive members ``<root key>/<archive>!/<member>``), so a library can
be rebuilt under any folder on any machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol

import attrs

from printmanager_core.store.catalogue_copy import CatalogueCopy, Place, Relocation

from . import sync_store
from .errors import IntegrityError
from .snapshot import BlobRef, Snapshot

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

ARCHIVE_SEP = "!/"
THUMBNAILS = "thumbnails"

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


def _local_file_key(f: LocalFile) -> str:
    return f"{f.root}/{f.rel}"


def _pack_files(files: list[LocalFile]) -> str:
    """``files`` as one text: path, root key and relative path of each, NUL-terminated (no
    path holds a NUL)."""
    return "".join(f"{f.path}\0{f.root}\0{f.rel}\0" for f in files)


def _unpack_files(text: Any) -> list[LocalFile] | None:
    """What :func:`_pack_files` packed; None if ``text`` is not such a text."""
    if not isinstance(text, str) or (text and not text.endswith("\0")):
        return None
    parts = text.split("\0")[:-1]
    if len(parts) % 3:
        return None
    it = iter(parts)
    return [LocalFile(path, root, rel) for path, root, rel in zip(it, it, it)]


def relative(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators (archive members kept), or None outside it."""
    member = ""
    if ARCHIVE_SEP in path:
        path, member = path.split(ARCHIVE_SEP, 1)
    root = root.rstrip("/\\")
    if path == root:
        rel = "."
    elif path.startswith(root) and path[len(root)] in "/\\":
        rest = path[len(root) + 1 :]
        if "\\" in rest or "//" in rest or rest.startswith("/") or rest.endswith("/"):
            rel = "/".join(p for p in re.split(r"[\\/]", rest) if p)
        else:  # the usual case: already ``/``-separated with no empty component
            rel = rest
    else:
        return None
    return rel + (ARCHIVE_SEP + member if member else "")


#: sync state key: the catalogue's fingerprint and files on disk, and the :meth:`Catalogue.stamp` they were worked out at
FINGERPRINT_CACHE = "catalogue_fingerprint"
#: what the fingerprint and the files are worked out from and how; a change to either must add one (old caches then miss)
FINGERPRINT_VERSION = 1


class FingerprintCache(Protocol):
    """Where :meth:`Catalogue.survey_cached` keeps what it found (the sync state)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


#: one encoder for every row of the catalogue fingerprint (building one per row cost more than the row)
_FACTS_ENCODER = json.JSONEncoder(sort_keys=True, default=str)

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


def root_folders(snapshot: Snapshot) -> dict[str, str]:
    """Root key -> a folder name for it (the root's name, made safe and unique)."""
    used: set[str] = set()
    out = {}
    for root in snapshot.roots:
        name = "".join(c for c in (root.name or "root") if c not in '<>:"/\\|?*').strip(" .") or "root"
        candidate, n = name, 2
        while candidate.lower() in used:
            candidate, n = f"{name}-{n}", n + 1
        used.add(candidate.lower())
        out[root.key] = candidate
    return out


@attrs.frozen
class BackupGroup:
    """Roots of a snapshot catalogued by one database backup.

    :ivar roots: root key -> the pushing device's path for that root.
    """

    database: BlobRef
    library_dir: str | None
    roots: dict[str, str]


def root_databases(snapshot: Snapshot) -> dict[str, BackupGroup]:
    """The snapshot's roots grouped by the database backup that catalogues them, by blob id."""
    groups: dict[str, BackupGroup] = {}
    for root in snapshot.roots:
        db = root.database or snapshot.database
        if not db:
            continue
        library_dir = root.library_dir if root.library_dir is not None else snapshot.library_dir
        group = groups.setdefault(db.blob, BackupGroup(db, library_dir, {}))
        group.roots[root.key] = root.path
    return groups


class RootGuard:
    """Whether a path, every symlink resolved, lies inside a folder (a root, the thumbnail cache).

    Sync uploads a file only when it lies inside its root: a symlink in a model pack that
    points at ``~/.ssh/id_rsa`` (or a linked folder that leads out of the root) is never read.
    Resolved folders are cached, so a file costs one ``lstat``.
    """

    def __init__(self) -> None:
        self._real: dict[str, str] = {}
        self._prefix: dict[str, str] = {}  # folder -> its resolved path and a separator

    def _real_dir(self, folder: str) -> str:
        real = self._real.get(folder)
        if real is None:
            real = self._real[folder] = os.path.realpath(folder)
        return real

    def _inside_prefix(self, folder: str) -> str:
        prefix = self._prefix.get(folder)
        if prefix is None:
            prefix = self._prefix[folder] = self._real_dir(folder).rstrip(os.sep) + os.sep
        return prefix

    def stat_inside(self, path: str, folder: str) -> tuple[bool, os.stat_result | None]:
        """``(inside, stat)``: :meth:`inside`, and the ``os.stat`` of ``path`` (None if it cannot
        be had) — one ``lstat`` for a file that is not a link, the usual case."""
        return self.stat_all([(path, folder)])[0]

    def stat_all(self, files: Iterable[tuple[str, str]]) -> list[tuple[bool, os.stat_result | None]]:
        """:meth:`stat_inside` of each ``(path, folder)``, in one loop (a sync asks it of every file).

        The folder holding a path is resolved once (cached); when it resolves to itself (no
        symlink on the way, the usual case) the path is its own resolved form up to its last
        component, which the ``lstat`` checks."""
        sep, lstat, islink, real_of = os.sep, os.lstat, stat.S_ISLNK, self._real
        general_split = os.altsep is not None  # two separators: always the general split
        out: list[tuple[bool, os.stat_result | None]] = []
        for path, folder in files:
            prefix = self._prefix.get(folder) or self._inside_prefix(folder)
            cut = -1 if general_split else path.rfind(sep)
            if 0 < cut < len(path) - 1:
                parent, name = path[:cut], path[cut + 1 :]
            else:  # no separator or a trailing one: the general split
                parent, name = os.path.split(path)
            real_parent = real_of.get(parent) or self._real_dir(parent)
            real = path if real_parent == parent else os.path.join(real_parent, name)
            try:
                st: os.stat_result | None = lstat(real)
            except OSError:
                st = None
            if name in ("", ".", "..") or (st is not None and islink(st.st_mode)):
                real, st = os.path.realpath(real), None
            inside = real.startswith(prefix)
            if inside and st is None:
                try:
                    st = os.stat(path)
                except OSError:
                    st = None
            out.append((inside, st))
        return out

    def inside(self, path: str, folder: str) -> bool:
        """True if ``path`` (resolved) is inside ``folder`` (resolved), not the folder itself."""
        base = self._real_dir(folder)
        parent, name = os.path.split(path)
        real = os.path.join(self._real_dir(parent), name)
        if name in ("", ".", "..") or os.path.islink(real):
            real = os.path.realpath(real)
        return real.startswith(base.rstrip(os.sep) + os.sep)


def _thumbnail_files(library: "Library") -> list[tuple[str, str]]:
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


def _keys(store: CatalogueCopy, root_keys: dict[str, str],
          files: list[Place] | None = None) -> tuple[dict[int, str], dict[int, str]]:  # fmt: skip
    """file id -> key and model id -> key for rows under synced roots (``files``: the file
    rows' places when the caller read them already)."""
    roots = store.roots()

    def keyed(places: Iterable[Place]) -> dict[int, str]:
        out = {}
        for place in places:
            root = roots.get(place.root_id) if place.root_id is not None else None
            if root in root_keys:
                rel = relative(place.path, root)  # type: ignore[arg-type]
                if rel is not None:
                    out[place.id] = f"{root_keys[root]}/{rel}"  # type: ignore[index]
        return out

    return keyed(store.file_places() if files is None else files), keyed(store.model_places())


def _user_meta(store: CatalogueCopy, root_keys: dict[str, str],
               keys: tuple[dict[int, str], dict[int, str]] | None = None) -> dict[str, Any]:  # fmt: skip
    file_keys, model_keys = keys if keys is not None else _keys(store, root_keys)
    files: dict[str, Any] = {}
    for edits in store.file_edits():
        key = file_keys.get(edits.id)
        if key is None:
            continue
        entry: dict[str, Any] = {}
        if edits.tags:
            entry["tags"] = list(edits.tags)
        if edits.notes:
            entry["notes"] = edits.notes
        if entry:
            files[key] = entry
    models: dict[str, Any] = {}
    for medits in store.model_edits(MODEL_FIELDS):
        key = model_keys.get(medits.id)
        if key is None:
            continue
        entry = {f: v for f, v in medits.fields.items() if v not in (None, "")}
        if medits.tags:
            entry["tags"] = list(medits.tags)
        models[key] = entry
    collections: dict[str, Any] = {}
    for c in store.collections():
        members = sorted(model_keys[m] for m in c.model_ids if m in model_keys)
        collections[c.name] = {"description": c.description, "models": members}
    return {"files": files, "models": models, "collections": collections}


def _translate(path: str | None, src_root: str, dest_root: str) -> str | None:
    if path is None:
        return None
    rel = relative(path, src_root)
    if rel is None:
        return None
    member = ""
    if ARCHIVE_SEP in rel:
        rel, member = rel.split(ARCHIVE_SEP, 1)
    target = Path(dest_root) if rel == "." else safe_join(Path(dest_root), rel)
    return str(target) + (ARCHIVE_SEP + member if member else "")


def _thumbnail_mover(source_library_dir: str | None, library_dir: str) -> Callable[[str | None], str | None]:
    """A backup's thumbnail path -> the same thumbnail in this library's cache (None if elsewhere)."""
    thumbs_src = (source_library_dir or "").rstrip("/\\")

    def move(thumb: str | None) -> str | None:
        if thumb and thumbs_src and thumb.startswith(thumbs_src):
            rest = [p for p in re.split(r"[\\/]", thumb[len(thumbs_src) :]) if p]
            return str(Path(library_dir).joinpath(*rest))
        return None

    return move



class Catalogue:
    """The library's catalogue as sync sees it: what to upload, what the user edited, a backup,
    and the rows and edits a pull or restore brings in. Reads and writes go through the
    store's gateway (``printmanager_core.store.catalogue_copy``).

    Container paths are never absolute: a file is ``<root key>/<relative path>`` (archive
    members ``<root key>/<archive>!/<member>``), so a library can be rebuilt under any
    folder on any machine.
    """

    def __init__(self, library: "Library"):
        self.library = library
        self.store = CatalogueCopy(library.store.db)

    def root_paths(self) -> dict[int, str]:
        """Root id -> exact root path."""
        return self.store.roots()

    def local_files(self, root_keys: dict[str, str], places: list[Place] | None = None) -> list[LocalFile]:
        """The distinct files on disk behind the catalogue's present entries (``places``: the
        file rows' places when the caller read them already)."""
        synced = {rid: (path, root_keys[path]) for rid, path in self.store.roots().items() if path in root_keys}
        seen: dict[str, LocalFile] = {}
        for place in self.store.file_places(present_only=True) if places is None else places:
            if place.missing:
                continue
            root = synced.get(place.root_id)  # type: ignore[arg-type]
            if root is None:
                continue
            disk = place.archive or place.path  # its disk path
            if disk in seen:
                continue
            rel = relative(disk, root[0])
            if rel is None or rel == "." or ARCHIVE_SEP in rel:
                continue
            seen[disk] = LocalFile(disk, root[1], rel)
        return sorted(seen.values(), key=_local_file_key)

    def thumbnail_files(self) -> list[tuple[str, str]]:
        """``(absolute path, path relative to the thumbnails folder)`` of every cached thumbnail."""
        return _thumbnail_files(self.library)

    def fingerprint(self, root_keys: dict[str, str]) -> str:
        """SHA-256 over the catalogue's facts, independent of ids, absolute paths and mtimes."""
        return self.edits_and_fingerprint(root_keys)[1]

    def survey(self, root_keys: dict[str, str]) -> tuple[list[LocalFile], dict[str, Any], str]:
        """:meth:`local_files`, :meth:`user_meta` and :meth:`fingerprint` at once, reading the
        rows' places once."""
        places = self.store.file_places()
        meta, fingerprint = self.edits_and_fingerprint(root_keys, places)
        return self.local_files(root_keys, places), meta, fingerprint

    def stamp(self, root_keys: dict[str, str]) -> str | None:
        """What the fingerprint, :meth:`user_meta` and :meth:`local_files` depend on, hashed: the
        count of row changes (m047) and the tables' columns (``CatalogueCopy.row_changes``),
        ``root_keys`` and this code's :data:`FINGERPRINT_VERSION`. The same stamp means the
        same rows, so the same fingerprint and files. None when the database keeps no count."""
        changes = self.store.row_changes()
        if changes is None:
            return None
        text = json.dumps([FINGERPRINT_VERSION, *changes, sorted(root_keys.items())])
        return hashlib.sha256(text.encode()).hexdigest()

    def survey_cached(self, root_keys: dict[str, str],
                      cache: "FingerprintCache") -> tuple[list[LocalFile], dict[str, Any] | None, str]:  # fmt: skip
        """:meth:`survey`, its files and fingerprint taken from ``cache`` when the catalogue's
        :meth:`stamp` is the one they were worked out at (then the edits are None: nothing read
        them; :meth:`user_meta` gives them). Otherwise the rows are read and the cache is told
        what they gave. What a sync looks at every time.

        The stamp is read before the rows: a change committed while they are read moves the
        count past the stamp kept with them, so the next survey reads them again."""
        stamp = self.stamp(root_keys)
        kept = cache.get(FINGERPRINT_CACHE)
        if stamp is not None and isinstance(kept, dict) and kept.get("stamp") == stamp:
            files = _unpack_files(kept.get("files"))
            if files is not None and isinstance(kept.get("fingerprint"), str):
                return files, None, kept["fingerprint"]
        files, meta, fingerprint = self.survey(root_keys)
        if stamp is not None:
            cache.set(FINGERPRINT_CACHE, {"stamp": stamp, "fingerprint": fingerprint, "files": _pack_files(files)})
        return files, meta, fingerprint

    def edits_and_fingerprint(self, root_keys: dict[str, str],
                              places: list[Place] | None = None) -> tuple[dict[str, Any], str]:  # fmt: skip
        """:meth:`user_meta` and :meth:`fingerprint` together, reading each row's place once."""
        store = self.store
        keys = _keys(store, root_keys, places)
        meta = _user_meta(store, root_keys, keys)
        file_keys, model_keys = keys
        h = hashlib.sha256()
        rows = []
        for d in store.file_facts():
            key = file_keys.get(d.pop("id"))
            if key is None:
                continue
            d["model"] = model_keys.get(d.pop("model_id", None))  # type: ignore[arg-type]
            rows.append((key, d))
        for d in store.model_facts():
            key = model_keys.get(d.pop("id"))
            if key is not None:
                rows.append(("model:" + key, d))
        rows.sort(key=lambda r: r[0])
        encode = _FACTS_ENCODER.encode  # the bytes of json.dumps(..., sort_keys=True, default=str)
        for key, d in rows:
            h.update(encode([key, d]).encode())
        h.update(json.dumps(meta["collections"], sort_keys=True).encode())
        return meta, h.hexdigest()

    def user_meta(self, root_keys: dict[str, str]) -> dict[str, Any]:
        """What the user edits, keyed by container path: file tags and notes, model fields and
        tags, collections. The part of the catalogue that devices merge."""
        return _user_meta(self.store, root_keys)

    def backup(self, dest: str | os.PathLike[str]) -> None:
        """A consistent copy of the library database (SQLite online backup API), without this
        device's sync bookkeeping (it means nothing on another machine)."""
        self.store.backup(dest, prepare=sync_store.clear_bookkeeping)

    def import_backup(
        self,
        source_db: str | os.PathLike[str],
        roots: dict[str, Path],
        source_library_dir: str | None,
        *,
        only: set[str] | None = None,
    ) -> dict[str, int]:
        """Copy catalogue rows from a database backup into the library, moving them to new roots.

        :param roots: source root path -> the folder it now lives in.
        :param source_library_dir: the backup's library directory (thumbnail paths are moved too).
        :param only: disk paths (files or archives), as moved to the new roots, to import; default all.
        :returns: counts of rows added per table.
        """
        relocation = Relocation(
            roots={src: str(dest) for src, dest in roots.items()},
            move=_translate,
            thumbnail=_thumbnail_mover(source_library_dir, str(self.library.directory)),
            keep=None if only is None else only.__contains__,
        )
        return self.store.copy_from(source_db, relocation).as_dict()

    def mark_missing(self, disk_paths: Iterable[str]) -> int:
        """Mark the catalogue entries of files moved away by a pull as missing."""
        return self.store.mark_missing(disk_paths)

    def apply_meta(self, root_keys: dict[str, str], merged: Mapping[str, Any]) -> int:
        """Make the local catalogue's user edits equal ``merged`` (for entries present here).

        :returns: how many files, models and collections changed.
        """
        library, store = self.library, self.store
        file_keys, model_keys = _keys(store, root_keys)
        current = _user_meta(store, root_keys)
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
            store.set_collection_description(cid, want.get("description", ""))
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
