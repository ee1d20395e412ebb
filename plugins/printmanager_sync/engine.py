"""``sync now``: pull, merge, push.

A sync is: list the container and read the head, and refuse what cannot be
trusted (a deleted repository, a rolled-back or deleted head, lost objects only
another device has: ``inventory.py``); if another device moved the head since
our last sync, pull (download its new and changed files, apply its catalogue
edits by three-way merge, see ``merge.py``); upload every blob the container
lacks (including any the head needs that vanished); store a new snapshot once
every blob it needs is there; move the head with a conditional write; list
again before saying "pushed". Losing the race to another device means merging
again, never overwriting.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import random
import shutil
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from printmanager_core.settings import now_iso

from . import catalogue, consent, crypto, inventory, merge, names
from . import format as fmt
from .errors import Conflict, ContainerDamaged, IntegrityError, ObjectMissing, SourceChanged, SyncError
from .reports import SyncReport
from .session import Prompt, Session, SyncLock, open_session, tmp_dir
from .state import SyncState

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

#: parallel uploads/downloads
DEFAULT_WORKERS = 8
#: how often to merge again after losing the head to another device
MAX_ROUNDS = 8


def _digest(entries: dict[str, Any], thumbs: dict[str, Any], meta: dict[str, Any], fingerprint: str, roots: Any) -> str:
    """One hash of everything this device would put in a snapshot (to skip no-change syncs)."""
    return hashlib.sha256(fmt.canonical_json([entries, thumbs, meta, fingerprint, roots])).hexdigest()


class Scan:
    """This device's current state as container entries."""

    def __init__(self, session: Session, workers: int):
        lib = session.library
        state = session.state
        self.root_keys = state.ensure_root_keys(lib.roots())
        self.local_roots = set(self.root_keys.values())
        self.roots = {key: path for path, key in self.root_keys.items()}
        #: files of the catalogue that are not synced, and why (one line each)
        self.refused: list[str] = []
        found: dict[str, tuple[str, int, int]] = {}  # entry key -> (path, size, mtime)
        guard = catalogue.RootGuard()
        for f in catalogue.local_files(lib, self.root_keys):
            if not guard.inside(f.path, self.roots[f.root]):
                self.refused.append(f"{f.path}: not synced: it leads outside its root {self.roots[f.root]} (a symlink)")
                continue
            try:
                st = os.stat(f.path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device swapped in is never read
                self.refused.append(f"{f.path}: not synced: not a regular file")
                continue
            found[f.key] = (f.path, st.st_size, st.st_mtime_ns)
        thumbs: dict[str, tuple[str, int, int]] = {}  # rel -> (path, size, mtime)
        for path, rel in catalogue.thumbnail_files(lib):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                thumbs[rel] = (path, st.st_size, st.st_mtime_ns)
        ids = self._ids(session, [*found.values(), *thumbs.values()], workers)
        self.entries: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, str] = {}  # entry key -> local path
        for key, (path, size, mtime) in found.items():
            if path in ids:
                root, rel = key.split("/", 1)
                self.entries[key] = {"root": root, "rel": rel, "size": size, "mtime_ns": mtime, "blob": ids[path]}
                self.paths[key] = path
        self.thumbs: dict[str, dict[str, Any]] = {}
        self.thumb_paths: dict[str, str] = {}  # blob -> local path
        for rel, (path, size, mtime) in thumbs.items():
            if path in ids:
                self.thumbs[rel] = {"rel": rel, "size": size, "mtime_ns": mtime, "blob": ids[path]}
                self.thumb_paths[ids[path]] = path
        self.meta = catalogue.user_meta(lib, self.root_keys)
        self.fingerprint = catalogue.fingerprint(lib, self.root_keys)
        self.digest = _digest(self.entries, self.thumbs, self.meta, self.fingerprint, sorted(self.roots.items()))

    @staticmethod
    def _ids(session: Session, files: list[tuple[str, int, int]], workers: int) -> dict[str, str]:
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


def _snapshot_entries(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{e['root']}/{e['rel']}": e for e in snapshot.get("files", [])}


def _empty_snapshot() -> dict[str, Any]:
    return {"files": [], "meta": {}, "roots": [], "thumbnails": []}


def sync_now(
    library: "Library",
    *,
    passphrase: str | None = None,
    prompt: Prompt | None = None,
    workers: int = DEFAULT_WORKERS,
) -> SyncReport:
    """Pull, merge and push (see the module docstring). Refuses unless sync is enabled."""
    start = time.perf_counter()
    consent.require(library)
    report = SyncReport()
    with SyncLock(library), open_session(library, passphrase=passphrase, prompt=prompt) as session:
        for _round in range(MAX_ROUNDS):
            if _sync_round(session, report, workers):
                break
            time.sleep(random.uniform(0.01, 0.2))
        else:
            raise Conflict("other devices kept moving the head; try again")
        report.requests = session.requests()
    report.seconds = time.perf_counter() - start
    return report


def _scan_blobs(scan: "Scan") -> dict[str, int]:
    """Blob id -> plaintext size of what this device's scan would put in a snapshot."""
    out = {e["blob"]: e["size"] for e in scan.entries.values()}
    out.update({t["blob"]: t["size"] for t in scan.thumbs.values()})
    return out


def remember(
    state: SyncState, scan: "Scan", snapshot_id: str, tag: str | None, seq: int, db: Any, snapshot: dict[str, Any]
) -> None:
    """Record the snapshot this device now agrees with (the base of its next merge), and what of
    it this device's scan does not produce (other roots' files, database backups): the blobs the
    next no-change sync checks besides its own."""
    own = _scan_blobs(scan)
    state.set(
        "last",
        {
            "snapshot": snapshot_id,
            "tag": tag,
            "seq": seq,
            "digest": scan.digest,
            "fingerprint": scan.fingerprint,
            "db": db,
            "time": now_iso(),
            "files": len(scan.entries),
            "bytes": sum(e["size"] for e in scan.entries.values()),
            "thumbnails": len(scan.thumbs),
            "foreign": {b: n for b, n in fmt.snapshot_blobs(snapshot).items() if b not in own},
            "roots": sorted(r["key"] for r in snapshot.get("roots", [])),
        },
    )


def _read_head(repo: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return repo.read_head()
    except IntegrityError as exc:
        raise inventory.diagnose_unreadable_head(repo, exc) from None


def _sync_round(session: Session, report: SyncReport, workers: int) -> bool:
    """One attempt: True when done, False when another device moved the head first."""
    lib, state, repo = session.library, session.state, session.repo
    # What the container holds (one listing) and where its head is; refuse what cannot be trusted.
    last = state.get("last") or {}
    expected = int(last.get("files") or 0) + len(last.get("foreign") or {}) + int(last.get("thumbnails") or 0)
    with cf.ThreadPoolExecutor(1) as lister:
        # The listing waits on the network while this device looks at its own files: both at once.
        listing = lister.submit(inventory.Inventory.take, repo, expected=expected)
        try:
            head, tag = _read_head(repo)
            scan = Scan(session, workers)
        finally:
            inv = listing.result()  # nothing is uploaded before the checks below
    inventory.require_repository(repo, inv)
    if head is None and last.get("seq") is not None:
        inventory.require_same_repository(repo)  # a repository created anew says so, not "rollback"
    inventory.require_no_rollback(head, last)
    report.problems += [p for p in scan.refused if p not in report.problems]
    remote_moved = head is not None and head["snapshot"] != last.get("snapshot")
    head_lost = head is not None and head["snapshot"] not in inv.snapshots
    if head_lost and (remote_moved or set(last.get("roots", [])) - scan.local_roots):
        raise ContainerDamaged(
            f"the container's newest snapshot ({head['snapshot'][:16]}, head number {head['seq']}) is missing, "
            "and it holds files this device does not have; nothing was uploaded. Sync the device that pushed "
            "them, or run `printmanager sync check`"
        )
    same_here = scan.digest == last.get("digest")
    missing: dict[str, int] = {}
    if head is not None and not remote_moved:
        # What the head needs: this device's files and thumbnails as it pushed them (the same as
        # now when nothing changed here), and the rest of the snapshot as remembered.
        missing = inv.missing({**(_scan_blobs(scan) if same_here else {}), **last.get("foreign", {})})
    if head is not None and not remote_moved and not head_lost and not missing and same_here:
        report.snapshot = head["snapshot"]
        report.files, report.bytes = len(scan.entries), sum(e["size"] for e in scan.entries.values())
        return True  # nothing changed anywhere, and the container still has all the head needs
    if head_lost:
        report.problems.append(
            f"the container had lost its newest snapshot ({head['snapshot'][:16]}); a new one is pushed"  # type: ignore[index]
        )
    if missing:
        report.problems.append(
            f"{len(missing)} objects the newest snapshot needs had vanished from the container; uploading them again"
        )

    remote = repo.load_snapshot(head["snapshot"]) if head is not None and not head_lost else _empty_snapshot()
    changed_here = scan.fingerprint != last.get("fingerprint")
    if remote_moved:
        base = _empty_snapshot()
        if last.get("snapshot"):
            try:
                base = repo.load_snapshot(last["snapshot"])
            except ObjectMissing:
                pass
        report.merged = True
        with lib.write_lock("sync"):  # the pull writes files and the catalogue: one writer at a time
            _pull(session, scan, base, remote, report, workers)
        scan = Scan(session, workers)  # the files and the catalogue changed

    # The new snapshot: this device's roots as they are now, other devices' roots as the remote has them.
    remote_entries = _snapshot_entries(remote)
    remote_meta = remote.get("meta", {})
    files = merge.localize(scan.entries, remote_entries, scan.local_roots)
    meta = merge.localize_meta(scan.meta, remote_meta, scan.local_roots)
    thumbs = {t["rel"]: t for t in remote.get("thumbnails", [])}
    thumbs.update(scan.thumbs)
    roots = {r["key"]: r for r in remote.get("roots", [])}
    for key, path in scan.roots.items():
        roots[key] = {"key": key, "name": Path(path).name or "root", "path": path}

    if (
        remote_moved
        and not changed_here
        and files == remote_entries
        and meta == {"files": {}, "models": {}, "collections": {}, **remote_meta}
        and thumbs == {t["rel"]: t for t in remote.get("thumbnails", [])}
        and set(roots) == {r["key"] for r in remote.get("roots", [])}
        and not inv.missing(fmt.snapshot_blobs(remote))
    ):
        # We took the remote's changes and have none of our own: adopt its snapshot.
        remember(state, scan, head["snapshot"], tag, head["seq"], None, remote)  # type: ignore[index]
        report.snapshot = head["snapshot"]  # type: ignore[index]
        report.files, report.bytes = len(scan.entries), sum(e["size"] for e in scan.entries.values())
        return True

    # Upload what the container lacks.
    # A blob counts as present only with the exact size its plaintext gives: a partial
    # object left by another device's interrupted upload is uploaded again.
    stored = dict(inv.blobs)  # what the container holds, kept up to date as uploads finish
    uploads: dict[str, tuple[str, int, int]] = {}
    for key, entry in scan.entries.items():
        if not inv.has_blob(entry["blob"], entry["size"]):
            uploads[entry["blob"]] = (scan.paths[key], entry["size"], entry["mtime_ns"])
    for t in scan.thumbs.values():
        if not inv.has_blob(t["blob"], t["size"]):
            uploads[t["blob"]] = (scan.thumb_paths[t["blob"]], t["size"], t["mtime_ns"])
    failed = _upload(session, uploads, report, workers, stored)
    if failed:
        for k, v in list(files.items()):
            if v["blob"] in failed:  # keep the last version the container has, if any
                if k in remote_entries:
                    files[k] = remote_entries[k]
                else:
                    del files[k]
        thumbs = {k: v for k, v in thumbs.items() if v["blob"] not in failed}
    # Thumbnails are a cache: one the container lost (another device's) is left out, not waited for.
    thumbs = {k: v for k, v in thumbs.items() if stored.get(v["blob"]) == crypto.ciphertext_size(v["size"])}

    db_entry = last.get("db") if (not changed_here and not remote_moved) else None
    if db_entry is not None and not inv.has_blob(db_entry["blob"], db_entry["size"]):
        db_entry = None  # the container lost this device's backup: a fresh one goes up
    if db_entry is None:
        db_entry = _upload_database(session, report, stored)

    for key in scan.roots:  # this device's roots are catalogued by this device's backup
        roots[key] = {**roots[key], "database": db_entry, "library_dir": str(lib.directory)}
    snapshot = {
        "version": fmt.SNAPSHOT_VERSION,
        "time": now_iso(),
        "device": state.device_id(),
        "parents": [head["snapshot"]] if head else [],
        "library_dir": str(lib.directory),
        "roots": [roots[k] for k in sorted(roots)],
        "files": [files[k] for k in sorted(files)],
        "thumbnails": [thumbs[k] for k in sorted(thumbs)],
        "database": db_entry,
        "meta": meta,
        "fingerprint": scan.fingerprint,
    }
    # Never publish a snapshot the container cannot be restored from.
    lacking = {b: n for b, n in fmt.snapshot_blobs(snapshot).items() if stored.get(b) != crypto.ciphertext_size(n)}
    if lacking:
        raise ContainerDamaged(
            f"{len(lacking)} objects the new snapshot needs are missing from the container and only another device "
            "has them (files of its roots); nothing was published. Sync that device first (its next `sync now` "
            "uploads them again), or run `printmanager sync check`"
        )
    consent.require(lib)  # withdrawn meanwhile? stop before publishing anything
    inventory.verify_published_keys(repo, state.get("repo_cache"))
    snap_id = repo.save_snapshot(snapshot)
    seq = (head["seq"] + 1) if head else 1
    try:
        new_tag = repo.write_head(snap_id, seq, state.device_id(), expect=tag)
    except Conflict:
        again, again_tag = repo.read_head()
        if again is None or again["snapshot"] != snap_id:
            return False  # another device won: merge with its snapshot and try again
        new_tag = again_tag  # our write went through; only its answer was lost
    # Before saying "pushed": the container really holds all the new head needs.
    after = inventory.Inventory.take(repo, expected=len(stored))
    inventory.require_repository(repo, after)
    gone = after.missing(fmt.snapshot_blobs(snapshot))
    if not after.head or snap_id not in after.snapshots or gone:
        raise ContainerDamaged(
            "objects vanished from the container while this sync was publishing "
            f"({len(gone)} blobs{'' if snap_id in after.snapshots else ', the new snapshot'}"
            f"{'' if after.head else ', the head'}): another device may be deleting it. Run `printmanager sync check`"
        )
    remember(state, scan, snap_id, new_tag, seq, db_entry, snapshot)
    report.snapshot, report.pushed = snap_id, True
    report.files, report.bytes = len(scan.entries), sum(e["size"] for e in scan.entries.values())
    return True


def _upload(
    session: Session, uploads: dict[str, tuple[str, int, int]], report: SyncReport, workers: int, stored: dict[str, int]
) -> set[str]:
    """Upload blobs in parallel, adding each stored one to ``stored`` (id -> stored size);
    return ids that could not be stored because their file changed."""
    lib, state, repo, journal = session.library, session.state, session.repo, session.journal
    wanted = {repo.blob_key(blob) for blob in uploads}
    for name, upload_id in journal.open_uploads():
        if name not in wanted:  # its file changed or went away: that upload can never complete
            try:
                session.backend.abort_upload(name, upload_id)
            except SyncError:
                continue  # try again next time
            journal.finish(name)
    if not uploads:
        return set()
    failed: set[str] = set()
    errors: list[BaseException] = []
    done: list[tuple[str, int]] = []
    pending: set[cf.Future[int]] = set()
    owner: dict[cf.Future[int], tuple[str, str]] = {}

    def settle(futures: Iterable[cf.Future[int]]) -> None:
        for fut in futures:
            blob, path = owner.pop(fut)
            try:
                size = fut.result()
            except SourceChanged as exc:
                failed.add(blob)
                state.forget_id(path)
                report.problems.append(f"{path}: {exc}")
                continue
            except (OSError, SyncError) as exc:
                errors.append(exc)
                continue
            done.append((blob, size))
            stored[blob] = size
            report.uploaded_blobs += 1
            report.uploaded_bytes += size

    with cf.ThreadPoolExecutor(max(1, workers)) as pool:
        try:
            for blob, (path, size, mtime) in sorted(uploads.items(), key=lambda kv: -kv[1][1]):
                if errors:
                    break
                consent.require(lib)  # a withdrawal stops the upload at once
                fut = pool.submit(repo.put_file, path, blob, size, mtime, journal=journal)
                owner[fut] = (blob, path)
                pending.add(fut)
                if len(pending) >= 2 * workers:
                    finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    settle(finished)
                    if len(done) >= 256:
                        state.add_blobs(done)
                        done.clear()
        finally:
            finished, _ = cf.wait(pending)
            settle(finished)
            state.add_blobs(done)
    if errors:
        raise errors[0]
    return failed


def _upload_database(session: Session, report: SyncReport, stored: dict[str, int]) -> dict[str, Any]:
    lib, repo = session.library, session.repo
    tmp = tmp_dir(lib) / f"db-{os.urandom(4).hex()}.sqlite"
    try:
        catalogue.backup_database(lib, tmp)
        st = tmp.stat()
        blob = repo.file_id(tmp)
        size = repo.put_file(str(tmp), blob, st.st_size, st.st_mtime_ns)
        session.state.add_blobs([(blob, size)])
        stored[blob] = size
        report.uploaded_blobs += 1
        report.uploaded_bytes += size
        return {"blob": blob, "size": st.st_size}
    finally:
        tmp.unlink(missing_ok=True)


def _pull(
    session: Session,
    scan: Scan,
    base: dict[str, Any],
    remote: dict[str, Any],
    report: SyncReport,
    workers: int,
) -> None:
    """Bring this device up to the remote snapshot: files first, then catalogue edits."""
    lib, repo, state = session.library, session.repo, session.state
    base_entries, remote_entries = _snapshot_entries(base), _snapshot_entries(remote)
    view = merge.localize(scan.entries, base_entries, scan.local_roots)
    merged = merge.merge_entries(base_entries, view, remote_entries, merge.merge_file)
    key_to_root = {key: Path(path) for key, path in scan.roots.items()}
    downloads: list[tuple[str, dict[str, Any], Path]] = []
    removals: list[str] = []
    for key in sorted(set(merged) | set(view)):
        root = merge.root_of(key)
        if root not in scan.local_roots:
            continue
        want, have = merged.get(key), view.get(key)
        if want == have:
            continue
        if want is None:
            if key in scan.paths:
                removals.append(scan.paths[key])
            continue
        if have is not None and want["blob"] == have["blob"]:
            continue
        try:
            dest = catalogue.safe_join(key_to_root[root], want["rel"])
        except IntegrityError as exc:
            report.problems.append(str(exc))
            continue
        if have is None and dest.exists():
            report.problems.append(f"{dest}: exists here and is not catalogued; not overwritten")
            continue
        downloads.append((key, want, dest))
    downloads = _without_collisions(downloads, view, key_to_root, report)

    new_paths: set[str] = set()

    def fetch(item: tuple[str, dict[str, Any], Path]) -> str | None:
        key, entry, dest = item
        try:  # a new file never replaces one (on a case-insensitive folder, hull.stl is Hull.stl)
            repo.restore_blob(entry["blob"], dest, mtime_ns=entry.get("mtime_ns"), replace=key in view)
        except names.NameTaken:
            return None
        return str(dest)

    replaced_roots: set[str] = set()
    with cf.ThreadPoolExecutor(max(1, workers)) as pool:
        for (key, entry, dest), path in zip(downloads, pool.map(fetch, downloads)):
            if path is None:
                report.problems.append(f"{dest}: a file of that name is already here; not overwritten")
                continue
            report.downloaded_files += 1
            state.remember_ids([(path, entry["size"], entry["mtime_ns"], entry["blob"])])
            if key not in view:
                new_paths.add(path)
            else:
                replaced_roots.add(merge.root_of(key))
    if replaced_roots:  # the catalogue reads the new content of replaced files (an incremental scan)
        lib.scan([key_to_root[k] for k in sorted(replaced_roots)], thumbnails=False)

    if removals:
        trash = lib.directory / "sync" / "trash" / now_iso().replace(":", "-")
        for path in removals:
            target = trash / Path(path).relative_to(Path(path).anchor)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.move(path, target)
                report.removed_files += 1
            except OSError as exc:
                report.problems.append(f"{path}: could not move to the sync trash: {exc}")
        catalogue.mark_missing(lib, removals)

    if new_paths:
        import_roots(repo, lib, remote, {k: key_to_root[k] for k in scan.local_roots if k in key_to_root}, only=new_paths)

    # Catalogue edits: three-way merge of what the user changed on each side.
    meta_view = merge.localize_meta(catalogue.user_meta(lib, scan.root_keys), base.get("meta", {}), scan.local_roots)
    merged_meta = merge.merge_meta(base.get("meta", {}), meta_view, remote.get("meta", {}))
    catalogue.apply_meta(lib, scan.root_keys, merged_meta)


def _without_collisions(
    downloads: list[tuple[str, dict[str, Any], Path]], view: dict[str, Any], roots: dict[str, Path], report: SyncReport
) -> list[tuple[str, dict[str, Any], Path]]:
    """New files whose names this device's folder would take for one another's (it ignores
    case or Unicode normalisation) are reported; the first is downloaded, the others are not."""
    new = [d for d in downloads if d[0] not in view]
    if not new:
        return downloads
    skipped: set[str] = set()
    for root in sorted({merge.root_of(k) for k, _e, _d in new}):
        folding = names.probe(roots[root])
        if folding == names.Folding():
            continue
        items = [(e["rel"], k) for k, e, _d in new if merge.root_of(k) == root]
        _keep, clashes = names.collisions(items, folding)
        for rel, other in clashes:
            skipped.add(f"{root}/{rel}")
            report.problems.append(
                f"{roots[root] / rel}: not downloaded: this folder ignores {folding.describe()}, "
                f"so it would be the same file as {other}"
            )
    return [d for d in downloads if d[0] not in skipped]


def import_roots(
    repo: Any, library: "Library", snapshot: dict[str, Any], dest_roots: dict[str, Path], *, only: set[str] | None = None
) -> dict[str, int]:
    """Bring the catalogue rows of ``snapshot``'s roots into ``library``, each root from the
    database backup of the device that last pushed it, moved to ``dest_roots[key]``.

    :param only: disk paths (as moved) to import; default every file of those roots.
    :returns: rows added per table, summed over the backups used.
    """
    totals: dict[str, int] = {}
    for group in catalogue.root_databases(snapshot).values():
        roots_map = {path: dest_roots[key] for key, path in group["roots"].items() if key in dest_roots}
        if not roots_map:
            continue
        db_tmp = tmp_dir(library) / f"import-{os.urandom(4).hex()}.sqlite"
        try:
            repo.restore_blob(group["database"]["blob"], db_tmp)
            added = catalogue.import_catalogue(library, db_tmp, roots_map, group["library_dir"], only=only)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db_tmp) + suffix).unlink(missing_ok=True)
        for table, count in added.items():
            totals[table] = totals.get(table, 0) + count
    return totals
