"""Rebuilding a library from the container, and exporting the user's files from it."""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.settings import now_iso

from . import catalogue, consent, credentials, crypto, names
from .backends import open_backend
from .backends.base import place
from .engine import DEFAULT_WORKERS, remember
from .local import LocalScan
from .pull import import_roots
from .snapshot import Entry
from .errors import ObjectMissing, SyncError
from .reports import RestoreReport
from .repository import Repository
from .session import Prompt, Session, ledger_detail, open_session, page_cache_dir, passphrase_source
from .state import SyncState

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library


def restore(
    library: "Library",
    config: dict[str, Any],
    to: str | os.PathLike[str],
    *,
    passphrase: str | None = None,
    prompt: Prompt | None = None,
    user: str | None = None,
    source: str = "api",
    workers: int = DEFAULT_WORKERS,
) -> RestoreReport:
    """Rebuild a library from the container: model files under ``to`` (one folder per root,
    relative paths kept), thumbnails, and the catalogue (from the database backup).

    Running a restore is the user's explicit request to connect: it records consent for
    this library (``action: restore``) and leaves it set up to sync with the container.
    It holds the library's write lock throughout (a scan of the library waits for it).
    """
    with library.write_lock("sync restore"):  # it writes files and the catalogue: one writer at a time
        return _restore(library, config, to, passphrase=passphrase, prompt=prompt, user=user, source=source,
                        workers=workers)  # fmt: skip


def _restore(
    library: "Library",
    config: dict[str, Any],
    to: str | os.PathLike[str],
    *,
    passphrase: str | None,
    prompt: Prompt | None,
    user: str | None,
    source: str,
    workers: int,
) -> RestoreReport:
    start = time.perf_counter()
    state = SyncState(library)
    if config.get("credentials"):  # the source names the endpoint, bucket and user (see lifecycle.enable)
        from .storage_credentials import scoped_target

        config, user = scoped_target(config, library, user)
    consent.grant(library, ledger_detail({**config, "user": user}, action="restore"), source=source)
    try:
        backend = open_backend(library, config)
    except BaseException as exc:
        consent.withdraw(library, ledger_detail(config, action="restore failed", reason=str(exc)[:200]), source=source)
        raise
    try:
        if user is None:
            users = Repository.users(backend)
            if not users:
                raise ObjectMissing(f"no sync repository in {place(backend.describe())}")
            if len(users) > 1:
                raise SyncError(f"the container holds several users ({', '.join(users)}): choose one with --user")
            user = users[0]
        repo = Repository.open(backend, user, passphrase_source(passphrase, prompt))
        repo.page_cache = page_cache_dir(library)  # the pages read now are the base of the next merge
        head, tag = repo.head()
        if head is None:
            raise ObjectMissing("the container has no snapshot yet (nothing was synced)")
        snap = repo.snapshot(head.snapshot)
        target = Path(to).expanduser().resolve()
        target.mkdir(parents=True, exist_ok=True)

        # One folder per root, named after it (made unique).
        root_dirs = {key: target / name for key, name in catalogue.root_folders(snap).items()}

        report = RestoreReport(head.snapshot, {k: str(v) for k, v in root_dirs.items()})
        # Names the target folder would take for one (it ignores case, or Unicode normalisation)
        # are reported, never written over one another.
        by_root: dict[str, list[tuple[str, Entry]]] = {}
        for entry in snap.files:
            if entry.root in root_dirs:
                catalogue.safe_join(root_dirs[entry.root], entry.rel)  # refuses a hostile name first
                by_root.setdefault(entry.root, []).append((entry.rel, entry))  # type: ignore[arg-type]
        plan: list[tuple[Entry, Path]] = []
        wanted: set[str] = set()  # disk paths of the files restored (or already there)
        for key, items in by_root.items():
            folding = names.probe(root_dirs[key])
            keep, clashes = names.collisions(items, folding)
            for rel, other in clashes:
                report.problems.append(
                    f"{root_dirs[key] / rel}: not restored: this folder ignores {folding.describe()}, "
                    f"so it would be the same file as {other}"
                )
            for rel, entry in keep:
                dest = catalogue.safe_join(root_dirs[key], rel)
                wanted.add(str(dest))
                if dest.exists():
                    if dest.stat().st_size == entry.size and repo.file_id(dest) == entry.blob:
                        continue  # already there (an earlier, interrupted restore)
                    raise SyncError(f"{dest} exists and differs: restore into an empty folder")
                plan.append((entry, dest))

        def fetch(item: tuple[Entry, Path]) -> int:
            entry, dest = item
            try:
                return repo.restore_blob(entry.blob, dest, mtime_ns=entry.mtime_ns, replace=False)
            except names.NameTaken:
                return -1

        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            for (_entry, dest), size in zip(plan, pool.map(fetch, plan)):
                if size < 0:  # a name the probe did not foresee as taken: still never overwritten
                    report.problems.append(f"{dest}: not restored: a file of that name is already there")
                    wanted.discard(str(dest))
                    continue
                report.files += 1
                report.bytes += size
        thumbs_dir = library.directory / catalogue.THUMBNAILS
        for t in snap.thumbnails:
            repo.restore_blob(t.blob, catalogue.safe_join(thumbs_dir, t.rel), mtime_ns=t.mtime_ns)
            report.thumbnails += 1

        for path in root_dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        session = Session(library, state, backend, repo)
        try:
            report.catalogue = import_roots(session, snap, root_dirs, only=wanted if report.problems else None)
            # the user's edits exactly as the snapshot has them (a root's backup may predate the last merge)
            session.catalogue.apply_meta({str(p): k for k, p in root_dirs.items()}, snap.meta)
            cache = repo.cache_blob()

            # This library now syncs with the container, as the device that restored it.
            state.clear()
            keys = {str(path): key for key, path in root_dirs.items()}
            state.update({"config": {**config, "user": user}, "repo_cache": cache, "roots": keys,
                          "enabled_at": now_iso()})  # fmt: skip
            restored = [(e, str(catalogue.safe_join(root_dirs[e.root], e.rel))) for e in snap.files if e.root in root_dirs]
            state.remember_ids((path, e.size, e.mtime_ns, e.blob) for e, path in restored if path in wanted)
            state.add_blobs((e.blob, crypto.ciphertext_size(e.size)) for e in snap.files)
            credentials.cache_master_key(library, user, repo.keys.master)
            # The restored snapshot is the common base: the next sync pushes only real changes.
            scan = LocalScan(session, workers)
            remember(session, scan, head.snapshot, tag, head.seq, None, snap)
        finally:
            session.journal.close()
    except BaseException as exc:
        # An unfinished restore leaves sync off (files written so far are complete and verified).
        consent.withdraw(
            library, ledger_detail({**config, "user": user}, action="restore failed", reason=str(exc)[:200]),
            source=source,
        )  # fmt: skip
        raise
    finally:
        backend.close()
    report.seconds = time.perf_counter() - start
    return report


def export_cloud(library: "Library", add_file: Callable[[str, str], None], *, passphrase: str | None = None) -> int:
    """Download and decrypt the newest snapshot's files, handing each to ``add_file(arcname, path)``.

    Temporary files are deleted after each hand-over returns.
    """
    count = 0
    with open_session(library, passphrase=passphrase) as session:
        repo = session.repo
        head, _ = repo.head()
        if head is None:
            return 0
        snap = repo.snapshot(head.snapshot)
        folders = catalogue.root_folders(snap)
        tmp = session.tmp_dir()
        for entry in snap.files:
            catalogue.safe_join(Path("cloud"), entry.rel)  # a hostile name never becomes an archive name
            arcname = f"cloud/{folders.get(entry.root, entry.root)}/{entry.rel}"  # type: ignore[arg-type]
            # a zip holds UTF-8 names: an undecodable byte of a name is written as %XX
            arcname = "".join(
                f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c
                for c in arcname
            )
            path = tmp / f"export-{os.urandom(4).hex()}"
            try:
                repo.restore_blob(entry.blob, path)
                add_file(arcname, str(path))
                count += 1
            finally:
                path.unlink(missing_ok=True)
    return count
