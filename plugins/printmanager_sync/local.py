"""This device's side of a sync: its roots' files and thumbnails as snapshot entries."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import stat
from typing import TYPE_CHECKING, Any

from . import catalogue
from . import format as fmt
from .snapshot import Entry

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session


#: begins what :func:`_digest` hashes: a digest of another form (an older version's) never equals one of this
_DIGEST_FORM = b"printmanager-sync local digest 2\0"


def _digest(entries: dict[str, Entry], thumbs: dict[str, Entry], fingerprint: str, roots: Any) -> str:
    """One hash of everything this device would put in a snapshot (to skip no-change syncs):
    every entry's key, place, size, mtime and object id, the catalogue's fingerprint (which
    determines the user's edits: they are read from the rows it hashes) and the roots.

    Fields are NUL-terminated (no path, id or number holds a NUL) and each part is counted,
    so two different states give two different inputs. It is only ever compared with the
    digest the last sync stored: one stored by an older version (another form) differs,
    which costs one full sync, never a wrong skip."""
    h = hashlib.sha256(_DIGEST_FORM)
    for part in (entries, thumbs):
        h.update(f"{len(part)}\0".encode())
        h.update("".join(f"{k}\0{e.rel}\0{e.size}\0{e.mtime_ns}\0{e.blob}\0{e.root}\0" for k, e in sorted(part.items()))
                 .encode("utf-8", "surrogatepass"))  # fmt: skip
    h.update(fmt.canonical_json([fingerprint, roots]))
    return h.hexdigest()


class LocalScan:
    """This device's current state as container entries: the files behind the catalogue's
    present entries (inside their roots, regular files only), the thumbnail cache, the
    user's edits and the catalogue's fingerprint (kept in the sync state under the
    catalogue's count of row changes: read again only when a row changed).

    An object id comes from the cache when size and mtime match, else the file is hashed.
    """

    def __init__(self, session: "Session", workers: int):
        state, cat = session.state, session.catalogue
        self.root_keys = state.ensure_root_keys(session.library.roots())
        self.local_roots = set(self.root_keys.values())
        self.roots = {key: path for path, key in self.root_keys.items()}
        #: files of the catalogue that are not synced, and why (one line each)
        self.refused: list[str] = []
        found: dict[str, tuple[str, int, int]] = {}  # entry key -> (path, size, mtime)
        guard = catalogue.RootGuard()
        self._catalogue = cat
        files, self._meta, self.fingerprint = cat.survey_cached(self.root_keys, state)
        for f in files:
            inside, st = guard.stat_inside(f.path, self.roots[f.root])
            if not inside:
                self.refused.append(f"{f.path}: not synced: it leads outside its root {self.roots[f.root]} (a symlink)")
                continue
            if st is None:
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device swapped in is never read
                self.refused.append(f"{f.path}: not synced: not a regular file")
                continue
            found[f.key] = (f.path, st.st_size, st.st_mtime_ns)
        thumbs: dict[str, tuple[str, int, int]] = {}  # rel -> (path, size, mtime)
        for path, rel in cat.thumbnail_files():
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                thumbs[rel] = (path, st.st_size, st.st_mtime_ns)
        #: how many files (and thumbnails) were read to learn their object ids (not in the cache)
        self.hashed = 0
        ids = self._ids(session, [*found.values(), *thumbs.values()], workers)
        self.entries: dict[str, Entry] = {}
        self.paths: dict[str, str] = {}  # entry key -> local path
        for key, (path, size, mtime) in found.items():
            if path in ids:
                root, rel = key.split("/", 1)
                self.entries[key] = Entry(rel, size, mtime, ids[path], root)
                self.paths[key] = path
        self.thumbs: dict[str, Entry] = {}
        self.thumb_paths: dict[str, str] = {}  # blob -> local path
        for rel, (path, size, mtime) in thumbs.items():
            if path in ids:
                self.thumbs[rel] = Entry(rel, size, mtime, ids[path])
                self.thumb_paths[ids[path]] = path
        self.digest = _digest(self.entries, self.thumbs, self.fingerprint, sorted(self.roots.items()))

    @property
    def meta(self) -> dict[str, Any]:
        """The user's edits keyed by container path (``Catalogue.user_meta``): read with the
        fingerprint, or, when that came from its cache, read the first time they are asked for
        (a sync that finds nothing changed never does)."""
        if self._meta is None:
            self._meta = self._catalogue.user_meta(self.root_keys)
        return self._meta

    @property
    def files(self) -> int:
        """How many files this device syncs."""
        return len(self.entries)

    @property
    def bytes(self) -> int:
        """Their plaintext bytes."""
        return sum(e.size for e in self.entries.values())

    def blobs(self) -> dict[str, int]:
        """Blob id -> plaintext size of what this device would put in a snapshot."""
        out = {e.blob: e.size for e in self.entries.values()}
        out.update({t.blob: t.size for t in self.thumbs.values()})
        return out

    def _ids(self, session: "Session", files: list[tuple[str, int, int]], workers: int) -> dict[str, str]:
        """Object id of each file: from the cache when size and mtime match, else hashed."""
        cached = session.state.cached_ids()
        ids: dict[str, str] = {}
        todo = []
        for path, size, mtime in files:
            hit = cached.get(path)
            if hit and hit[0] == size and hit[1] == mtime:
                ids[path] = hit[2]
            else:
                todo.append((path, size, mtime))
        self.hashed += len(todo)
        if todo:
            fresh: list[tuple[str, int, int, str]] = []
            with cf.ThreadPoolExecutor(max(1, workers)) as pool:
                futures = {pool.submit(session.repo.file_id, path): (path, size, mtime) for path, size, mtime in todo}
                for fut in cf.as_completed(futures):
                    path, size, mtime = futures[fut]
                    try:
                        ids[path] = fut.result()
                    except OSError:
                        continue
                    fresh.append((path, size, mtime, ids[path]))
            session.state.remember_ids(fresh)
        return ids
