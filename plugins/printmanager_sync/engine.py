"""``sync now``: a sync round, step by step.

A round is: **look** (list the container and read the head while this device
looks at its own files, and refuse what cannot be trusted: a deleted repository,
a rolled-back or deleted head, lost objects only another device has —
``inventory.py``); **pull** when another device moved the head since our last
sync (``pull.py``: its files, its catalogue rows, a three-way merge of the
user's edits — ``merge.py``); **plan** the new snapshot (this device's roots as
they are, other devices' roots as the container has them); **push blobs** (every
blob the container lacks, including any the head needs that vanished, and the
database backup); **write the snapshot** once every blob it needs is there;
**publish the head** with a conditional write, and list again before saying
"pushed". Losing the race to another device means merging again, never
overwriting.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import attrs

from printmanager_core.settings import now_iso

from . import consent, crypto, inventory, merge, pages
from .errors import Conflict, ContainerDamaged, IntegrityError, ObjectMissing, SourceChanged, SyncError
from .local import LocalScan
from .pull import import_roots, pull
from .reports import SyncReport
from .session import Prompt, Session, SyncLock, open_session
from .snapshot import BlobRef, Entry, Head, RootRecord, Snapshot

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

__all__ = ["DEFAULT_WORKERS", "LocalScan", "Round", "import_roots", "remember", "sync_now"]

#: parallel uploads/downloads
DEFAULT_WORKERS = 8
#: how often to merge again after losing the head to another device
MAX_ROUNDS = 8
#: sync state key: when (epoch seconds) a full listing last found the container whole
LISTED_AT = "listed_at"


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
            if Round(session, report, workers).run():
                break
            time.sleep(random.uniform(0.01, 0.2))
        else:
            raise Conflict("other devices kept moving the head; try again")
        report.requests = session.requests()
    report.seconds = time.perf_counter() - start
    return report


def remember(session: Session, scan: LocalScan, snapshot_id: str, tag: str | None, seq: int,
             db: BlobRef | None, snapshot: Snapshot) -> None:  # fmt: skip
    """Record the snapshot this device now agrees with (the base of its next merge), and what of
    it this device's scan does not produce (other roots' files, database backups): the blobs the
    next no-change sync checks besides its own."""
    own = scan.blobs()
    session.repo.keep_cached(snapshot.pages)  # the base of the next merge; other pages are read again if needed
    session.state.set(
        "last",
        {
            "snapshot": snapshot_id,
            "tag": tag,
            "seq": seq,
            "digest": scan.digest,
            "fingerprint": scan.fingerprint,
            "db": db.to_json() if db else None,
            "time": now_iso(),
            "files": scan.files,
            "bytes": scan.bytes,
            "thumbnails": len(scan.thumbs),
            "foreign": {b: n for b, n in snapshot.blobs().items() if b not in own},
            "roots": sorted(r.key for r in snapshot.roots),
        },
    )


def _read_head(repo: Any) -> tuple[Head | None, str | None]:
    try:
        return repo.head()
    except IntegrityError as exc:
        raise inventory.diagnose_unreadable_head(repo, exc) from None


@attrs.define
class Plan:
    """What the new snapshot will hold, before its blobs are pushed."""

    files: dict[str, Entry]
    thumbs: dict[str, Entry]
    meta: dict[str, Any]
    roots: dict[str, RootRecord]
    #: blob id -> (local path, size, mtime) of what the container lacks
    uploads: dict[str, tuple[str, int, int]] = attrs.field(factory=dict)


class Round:
    """One attempt at a sync (see the module docstring): :meth:`run` calls the steps in order."""

    def __init__(self, session: Session, report: SyncReport, workers: int):
        self.session, self.report, self.workers = session, report, workers
        self.state, self.repo = session.state, session.repo
        self.last: dict[str, Any] = self.state.get("last") or {}

    def run(self) -> bool:
        """True when done, False when another device moved the head first (merge again)."""
        if self.look():
            return True
        if self.remote_moved:
            base = Snapshot()
            if self.last.get("snapshot"):
                try:
                    base = self.repo.snapshot(self.last["snapshot"])
                except ObjectMissing:
                    pass
            self.report.merged = True
            # the pull writes files and the catalogue: one writer of the library at a time
            with self.session.library.write_lock("sync"):
                pull(self.session, self.scan, base, self.remote, self.report, self.workers)
            self.scan = LocalScan(self.session, self.workers)  # the files and the catalogue changed
            self.report.hashed_files += self.scan.hashed
        plan = self.plan()
        if plan is None:
            return True  # this device took the remote's changes and has none of its own
        db = self.push_blobs(plan)
        snap_id, snapshot = self.write_snapshot(plan, db)
        return self.publish_head(snap_id, snapshot, db)

    # -- look --------------------------------------------------------------------------

    def look(self) -> bool:
        """Read the head (and, when a full listing is due, list the container) while this device
        looks at its own files; refuse what cannot be trusted. True when nothing changed anywhere
        and the container still has all the head needs: the round is done.

        While nothing changes, the whole container is listed at most every
        ``sync.inventory_hours`` (default 24): in between, a no-change sync is one request (the
        head). Any change, here or on another device, lists it at once."""
        session, repo, last, report = self.session, self.repo, self.last, self.report
        expected = int(last.get("files") or 0) + len(last.get("foreign") or {}) + int(last.get("thumbnails") or 0)
        due = self.inventory_due()
        with cf.ThreadPoolExecutor(2) as waiting:
            # The head and the listing wait on the network while this device looks at its own files.
            listing = waiting.submit(inventory.Inventory.take, repo, expected=expected) if due else None
            reading = waiting.submit(_read_head, repo)
            try:
                scan = LocalScan(session, self.workers)
            finally:
                inv = listing.result() if listing is not None else None  # nothing is uploaded before the checks
                head, tag = reading.result()
        report.hashed_files += scan.hashed
        if inv is None:
            if (head is not None and head.snapshot == last.get("snapshot") and head.seq == last.get("seq")
                    and scan.digest == last.get("digest")):  # fmt: skip
                report.problems += [p for p in scan.refused if p not in report.problems]
                self.head, self.tag, self.scan = head, tag, scan
                report.snapshot = head.snapshot
                report.files, report.bytes = scan.files, scan.bytes
                return True
            inv = inventory.Inventory.take(repo, expected=expected)
        self.head, self.tag, self.scan, self.inv = head, tag, scan, inv
        inventory.require_repository(repo, inv)
        if head is None and last.get("seq") is not None:
            inventory.require_same_repository(repo)  # a repository created anew says so, not "rollback"
        inventory.require_no_rollback(head, last)
        report.problems += [p for p in scan.refused if p not in report.problems]
        self.remote_moved = head is not None and head.snapshot != last.get("snapshot")
        head_lost = head is not None and head.snapshot not in inv.snapshots
        if head is not None and head_lost and (self.remote_moved or set(last.get("roots", [])) - scan.local_roots):
            raise ContainerDamaged(
                f"the container's newest snapshot ({head.snapshot[:16]}, head number {head.seq}) is missing, "
                "and it holds files this device does not have; nothing was uploaded. Sync the device that pushed "
                "them, or run `printmanager sync check`"
            )
        same_here = scan.digest == last.get("digest")
        missing: dict[str, int] = {}
        if head is not None and not self.remote_moved:
            # What the head needs: this device's files and thumbnails as it pushed them (the same as
            # now when nothing changed here), and the rest of the snapshot as remembered.
            missing = inv.missing({**(scan.blobs() if same_here else {}), **last.get("foreign", {})})
        if not missing and not head_lost:
            self.listed()
        if head is not None and not self.remote_moved and not head_lost and not missing and same_here:
            report.snapshot = head.snapshot
            report.files, report.bytes = scan.files, scan.bytes
            return True
        if head is not None and head_lost:
            report.problems.append(f"the container had lost its newest snapshot ({head.snapshot[:16]}); a new one is pushed")
        if missing:
            report.problems.append(
                f"{len(missing)} objects the newest snapshot needs had vanished from the container; uploading them again"
            )
        self.remote = Snapshot()
        if head is not None and not head_lost:
            try:
                self.remote = repo.snapshot(head.snapshot, workers=self.workers)
            except ObjectMissing:
                # a page of it vanished: like a lost snapshot, pushed again only if it held nothing but ours
                if self.remote_moved or set(last.get("roots", [])) - scan.local_roots:
                    raise ContainerDamaged(
                        f"part of the container's newest snapshot ({head.snapshot[:16]}, head number {head.seq}) is "
                        "missing, and it holds files this device does not have; nothing was uploaded. Sync the device "
                        "that pushed them, or run `printmanager sync check`"
                    ) from None
                report.problems.append(f"the container had lost part of its newest snapshot ({head.snapshot[:16]}); a new one is pushed")
        self.changed_here = scan.fingerprint != last.get("fingerprint")
        return False

    def inventory_due(self) -> bool:
        """A full listing is due: never listed, ``sync.inventory_hours`` passed (or is 0), or the
        clock went back."""
        from .schema import INVENTORY_HOURS

        hours = self.session.library.settings.get(INVENTORY_HOURS)
        at = self.state.get(LISTED_AT)
        now = time.time()
        return not hours or not isinstance(at, (int, float)) or not 0 <= now - at < hours * 3600

    def listed(self) -> None:
        """Remember that a full listing found the container whole just now."""
        self.state.set(LISTED_AT, time.time())

    # -- plan --------------------------------------------------------------------------

    def plan(self) -> Plan | None:
        """The new snapshot's content: this device's roots as they are now, other devices' roots
        as the remote has them, and the blobs the container lacks. None when this device took
        the remote's changes and has none of its own: it adopts the remote snapshot."""
        scan, remote, inv = self.scan, self.remote, self.inv
        remote_entries = remote.entries()
        files = merge.localize(scan.entries, remote_entries, scan.local_roots)
        meta = merge.localize_meta(scan.meta, dict(remote.meta), scan.local_roots)
        thumbs = remote.thumbnails_by_rel()
        thumbs.update(scan.thumbs)
        roots = {r.key: r for r in remote.roots}
        for key, path in scan.roots.items():
            roots[key] = RootRecord(key, Path(path).name or "root", path)
        if (
            self.remote_moved
            and not self.changed_here
            and files == remote_entries
            and meta == {"files": {}, "models": {}, "collections": {}, **remote.meta}
            and thumbs == remote.thumbnails_by_rel()
            and set(roots) == {r.key for r in remote.roots}
            and not inv.missing(remote.blobs())
        ):
            assert self.head is not None
            remember(self.session, scan, self.head.snapshot, self.tag, self.head.seq, None, remote)
            self.report.snapshot = self.head.snapshot
            self.report.files, self.report.bytes = scan.files, scan.bytes
            return None
        plan = Plan(files, thumbs, meta, roots)
        # A blob counts as present only with the exact size its plaintext gives: a partial
        # object left by another device's interrupted upload is uploaded again.
        for key, entry in scan.entries.items():
            if not inv.has_blob(entry.blob, entry.size):
                plan.uploads[entry.blob] = (scan.paths[key], entry.size, entry.mtime_ns or 0)
        for t in scan.thumbs.values():
            if not inv.has_blob(t.blob, t.size):
                plan.uploads[t.blob] = (scan.thumb_paths[t.blob], t.size, t.mtime_ns or 0)
        return plan

    # -- push blobs --------------------------------------------------------------------

    def push_blobs(self, plan: Plan) -> BlobRef:
        """Upload what the container lacks, and the database backup when it changed (or was
        lost); drop from ``plan`` what could not be stored. Returns the backup's reference."""
        self.stored = dict(self.inv.blobs)  # what the container holds, kept up to date as uploads finish
        remote_entries = self.remote.entries()
        failed = _upload(self.session, plan.uploads, self.report, self.workers, self.stored)
        if failed:
            for k, v in list(plan.files.items()):
                if v.blob in failed:  # keep the last version the container has, if any
                    if k in remote_entries:
                        plan.files[k] = remote_entries[k]
                    else:
                        del plan.files[k]
            plan.thumbs = {k: v for k, v in plan.thumbs.items() if v.blob not in failed}
        # Thumbnails are a cache: one the container lost (another device's) is left out, not waited for.
        plan.thumbs = {k: v for k, v in plan.thumbs.items() if self.stored.get(v.blob) == crypto.ciphertext_size(v.size)}
        db = BlobRef.from_json(self.last.get("db")) if (not self.changed_here and not self.remote_moved) else None
        if db is not None and self.inv.missing(db.objects()):
            db = None  # the container lost (part of) this device's backup: a fresh one goes up
        if db is None:
            db = _upload_database(self.session, self.report, self.stored, self.workers)
        return db

    # -- write snapshot ----------------------------------------------------------------

    def write_snapshot(self, plan: Plan, db: BlobRef) -> tuple[str, Snapshot]:
        """Store the new snapshot — only when every blob it needs is in the container, and
        consent and the repository's keys still hold. Returns its id and the snapshot."""
        lib, state, head = self.session.library, self.state, self.head
        roots = dict(plan.roots)
        for key in self.scan.roots:  # this device's roots are catalogued by this device's backup
            roots[key] = attrs.evolve(roots[key], database=db, library_dir=str(lib.directory))
        snapshot = Snapshot(
            files=tuple(plan.files[k] for k in sorted(plan.files)),
            thumbnails=tuple(plan.thumbs[k] for k in sorted(plan.thumbs)),
            roots=tuple(roots[k] for k in sorted(roots)),
            meta=plan.meta,
            database=db,
            time=now_iso(),
            device=state.device_id(),
            parents=(head.snapshot,) if head else (),
            library_dir=str(lib.directory),
            fingerprint=self.scan.fingerprint,
        )
        # The pages first (those the container lacks), the manifest last: a snapshot in the
        # container never names a page that is not there, whenever a sync is stopped.
        manifest, page_plain = self.repo.paginate(snapshot.to_json())
        snapshot = attrs.evolve(snapshot, pages={b: len(p) for b, p in page_plain.items()})
        consent.require(lib)
        put = self.repo.put_pages(page_plain, present=self.stored, workers=self.workers)
        self.stored.update(put)
        self.session.state.add_blobs(put.items())
        self.report.uploaded_metadata += len(put)
        self.report.uploaded_bytes += sum(put.values())
        # Never publish a snapshot the container cannot be restored from.
        lacking = {b: n for b, n in snapshot.blobs().items() if self.stored.get(b) != crypto.ciphertext_size(n)}
        if lacking:
            raise ContainerDamaged(
                f"{len(lacking)} objects the new snapshot needs are missing from the container and only another "
                "device has them (files of its roots); nothing was published. Sync that device first (its next "
                "`sync now` uploads them again), or run `printmanager sync check`"
            )
        consent.require(lib)  # withdrawn meanwhile? stop before publishing anything
        inventory.verify_published_keys(self.repo, state.get("repo_cache"))
        return self.repo.put_manifest(manifest), snapshot

    # -- publish head ------------------------------------------------------------------

    def publish_head(self, snap_id: str, snapshot: Snapshot, db: BlobRef) -> bool:
        """Move the head to the new snapshot with a conditional write; False when another
        device moved it first. Before saying "pushed", list again: all the head needs is there."""
        repo, head, report, scan = self.repo, self.head, self.report, self.scan
        seq = (head.seq + 1) if head else 1
        try:
            new_tag = repo.write_head(snap_id, seq, self.state.device_id(), expect=self.tag)
        except Conflict:
            again, again_tag = repo.head()
            if again is None or again.snapshot != snap_id:
                return False  # another device won: merge with its snapshot and try again
            new_tag = again_tag  # our write went through; only its answer was lost
        after = inventory.Inventory.take(repo, expected=len(self.stored))
        inventory.require_repository(repo, after)
        gone = after.missing(snapshot.blobs())
        if not after.head or snap_id not in after.snapshots or gone:
            raise ContainerDamaged(
                "objects vanished from the container while this sync was publishing "
                f"({len(gone)} blobs{'' if snap_id in after.snapshots else ', the new snapshot'}"
                f"{'' if after.head else ', the head'}): another device may be deleting it. Run `printmanager sync check`"
            )
        remember(self.session, scan, snap_id, new_tag, seq, db, snapshot)
        self.listed()
        report.snapshot, report.pushed = snap_id, True
        report.files, report.bytes = scan.files, scan.bytes
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


def _upload_database(session: Session, report: SyncReport, stored: dict[str, int], workers: int = DEFAULT_WORKERS) -> BlobRef:
    """Back the database up and upload the backup: in chunks of ``pages.DB_CHUNK`` bytes (only
    those the container lacks), or as one blob when it is small."""
    repo = session.repo
    tmp = session.tmp_dir() / f"db-{os.urandom(4).hex()}.sqlite"
    try:
        session.catalogue.backup(tmp)
        st = tmp.stat()
        if st.st_size >= pages.DB_CHUNKED_FROM:
            pages.zero_free_pages(tmp)  # stale bytes of freed pages would change chunks for nothing
            st = tmp.stat()
        if st.st_size < pages.DB_CHUNKED_FROM:
            blob = repo.file_id(tmp)
            size = repo.put_file(str(tmp), blob, st.st_size, st.st_mtime_ns)
            session.state.add_blobs([(blob, size)])
            stored[blob] = size
            report.uploaded_blobs += 1
            report.uploaded_bytes += size
            return BlobRef(blob, st.st_size)
        whole = repo.keys.hasher()
        chunks: list[str] = []
        todo: dict[str, bytes] = {}
        with open(tmp, "rb") as f:
            while data := f.read(pages.DB_CHUNK):
                whole.update(data)
                blob = repo.keys.object_id(data)
                chunks.append(blob)
                if stored.get(blob) != crypto.ciphertext_size(len(data)):
                    todo[blob] = data
        consent.require(session.library)

        def put(item: tuple[str, bytes]) -> tuple[str, int]:
            return repo.put_blob_bytes(item[1], item[0])

        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            put_now = list(pool.map(put, todo.items()))
        session.state.add_blobs(put_now)
        stored.update(put_now)
        report.uploaded_blobs += 1 if put_now else 0
        report.uploaded_metadata += len(put_now)
        report.uploaded_bytes += sum(n for _, n in put_now)
        return BlobRef(whole.hexdigest(), st.st_size, tuple(chunks), pages.DB_CHUNK)
    finally:
        tmp.unlink(missing_ok=True)
