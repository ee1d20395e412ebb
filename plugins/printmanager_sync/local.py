"""This device's side of a sync: its roots' files and thumbnails as snapshot entries."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import hashlib
import os
import stat
from typing import TYPE_CHECKING, Any, Iterator

from . import catalogue
from . import format as fmt
from .snapshot import Entry

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session


#: begins what :func:`_digest` hashes: a digest of another form (an older version's) never equals one of this
_DIGEST_FORM = b"printmanager-sync local digest 2\0"

#: an entry as :func:`_digest` reads it: key, rel, size, mtime_ns, object id, root key (None: a thumbnail)
EntryRow = tuple[str, Any, int, "int | None", str, "str | None"]


def entry_rows(entries: dict[str, Entry]) -> list[EntryRow]:
    """``entries`` as :func:`_digest` reads them."""
    return [(k, e.rel, e.size, e.mtime_ns, e.blob, e.root) for k, e in entries.items()]


def _digest(entries: list[EntryRow], thumbs: list[EntryRow], fingerprint: str, roots: Any) -> str:
    """One hash of everything this device would put in a snapshot (to skip no-change syncs):
    every entry's key, place, size, mtime and object id, the catalogue's fingerprint (which
    determines the user's edits: they are read from the rows it hashes) and the roots.

    Fields are NUL-terminated (no path, id or number holds a NUL) and each part is counted,
    so two different states give two different inputs; entries are taken in key order. It is
    only ever compared with the digest the last sync stored: one stored by an older version
    (another form) differs, which costs one full sync, never a wrong skip."""
    h = hashlib.sha256(_DIGEST_FORM)
    for part in (entries, thumbs):
        h.update(f"{len(part)}\0".encode())
        h.update("".join([f"{k}\0{rel}\0{size}\0{mtime}\0{blob}\0{root}\0" for k, rel, size, mtime, blob, root in sorted(part)])
                 .encode("utf-8", "surrogatepass"))  # fmt: skip
    h.update(fmt.canonical_json([fingerprint, roots]))
    return h.hexdigest()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while (on again after, if it was on). A scan
    makes some ten objects per file and keeps them, none in a cycle: at 100,000 files the
    collector's passes over the growing heap cost a quarter of the scan and find nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class LocalScan:
    """This device's current state as container entries: the files behind the catalogue's
    present entries (inside their roots, regular files only), the thumbnail cache, the
    user's edits and the catalogue's fingerprint (the files and fingerprint kept in the sync
    state under the catalogue's count of row changes: read again only when a row changed).

    An object id comes from the cache when size and mtime match, else the file is hashed.
    """

    def __init__(self, session: "Session", workers: int):
        with _collector_paused():
            self._scan(session, workers)

    def _scan(self, session: "Session", workers: int) -> None:
        state, cat = session.state, session.catalogue
        self.root_keys = state.ensure_root_keys(session.library.roots())
        self.local_roots = set(self.root_keys.values())
        self.roots = {key: path for path, key in self.root_keys.items()}
        #: files of the catalogue that are not synced, and why (one line each)
        self.refused: list[str] = []
        # entry key -> (key, root key, rel, path, size, mtime); two paths one key (``a\\b`` and ``a/b``): the last
        found: dict[str, tuple[str, str, str, str, int, int]] = {}
        guard = catalogue.RootGuard()
        self._catalogue = cat
        files, self._meta, self.fingerprint = cat.survey_cached(self.root_keys, state)
        roots = self.roots
        for f, (inside, st) in zip(files, guard.stat_all([(f.path, roots[f.root]) for f in files])):
            if not inside:
                self.refused.append(f"{f.path}: not synced: it leads outside its root {roots[f.root]} (a symlink)")
                continue
            if st is None:
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device swapped in is never read
                self.refused.append(f"{f.path}: not synced: not a regular file")
                continue
            key = f"{f.root}/{f.rel}"
            found[key] = (key, f.root, f.rel, f.path, st.st_size, st.st_mtime_ns)
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
        ids = self._ids(session, [(r[3], r[4], r[5]) for r in found.values()] + list(thumbs.values()), workers)
        # (key, root key, rel, path, size, mtime, object id) of each file synced, in key order
        self._files = [(*r, ids[r[3]]) for r in found.values() if r[3] in ids]
        self._entries: dict[str, Entry] | None = None
        self._paths: dict[str, str] | None = None
        self.thumbs: dict[str, Entry] = {}
        self.thumb_paths: dict[str, str] = {}  # blob -> local path
        for rel, (path, size, mtime) in thumbs.items():
            if path in ids:
                self.thumbs[rel] = Entry(rel, size, mtime, ids[path])
                self.thumb_paths[ids[path]] = path
        rows: list[EntryRow] = [(key, rel, size, mtime, blob, root) for key, root, rel, _, size, mtime, blob in self._files]
        self.digest = _digest(rows, entry_rows(self.thumbs), self.fingerprint, sorted(self.roots.items()))

    @property
    def entries(self) -> dict[str, Entry]:
        """Entry key -> the entry of each file this device syncs (built when first asked for:
        a sync that finds nothing changed needs only their digest)."""
        if self._entries is None:
            self._entries = {key: Entry(rel, size, mtime, blob, root) for key, root, rel, _, size, mtime, blob in self._files}
        return self._entries

    @property
    def paths(self) -> dict[str, str]:
        """Entry key -> the local path of each file this device syncs."""
        if self._paths is None:
            self._paths = {r[0]: r[3] for r in self._files}
        return self._paths

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
        return len(self._files)

    @property
    def bytes(self) -> int:
        """Their plaintext bytes."""
        return sum(r[4] for r in self._files)

    def blobs(self) -> dict[str, int]:
        """Blob id -> plaintext size of what this device would put in a snapshot."""
        out = {r[6]: r[4] for r in self._files}
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
