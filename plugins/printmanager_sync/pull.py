"""The pull step of a sync: bring this device up to another device's snapshot.

Files first — new and changed ones downloaded (a changed file replaced atomically),
files deleted elsewhere moved to ``<library>/sync/trash/`` (never deleted), names
this folder would take for one another reported — then the catalogue: rows of new
files from the other device's database backup, a rescan where files were replaced,
and the three-way merge of the user's edits (``merge.py``).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from printmanager_core.settings import now_iso

from . import catalogue, merge, names
from .errors import IntegrityError
from .reports import SyncReport
from .snapshot import Entry, Snapshot

if TYPE_CHECKING:  # pragma: no cover
    from .local import LocalScan
    from .session import Session


def pull(session: "Session", scan: "LocalScan", base: Snapshot, remote: Snapshot, report: SyncReport,
         workers: int) -> None:  # fmt: skip
    """Bring this device up to ``remote`` (``base``: the last snapshot both shared)."""
    lib, repo, state = session.library, session.repo, session.state
    base_entries, remote_entries = base.entries(), remote.entries()
    view = merge.localize(scan.entries, base_entries, scan.local_roots)
    merged = merge.merge_entries(base_entries, view, remote_entries, merge.merge_file)
    key_to_root = {key: Path(path) for key, path in scan.roots.items()}
    downloads: list[tuple[str, Entry, Path]] = []
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
        if have is not None and want.blob == have.blob:
            continue
        try:
            dest = catalogue.safe_join(key_to_root[root], want.rel)
        except IntegrityError as exc:
            report.problems.append(str(exc))
            continue
        if have is None and dest.exists():
            report.problems.append(f"{dest}: exists here and is not catalogued; not overwritten")
            continue
        downloads.append((key, want, dest))
    downloads = _without_collisions(downloads, view, key_to_root, report)

    new_paths: set[str] = set()

    def fetch(item: tuple[str, Entry, Path]) -> str | None:
        key, entry, dest = item
        try:  # a new file never replaces one (on a case-insensitive folder, hull.stl is Hull.stl)
            repo.restore_blob(entry.blob, dest, mtime_ns=entry.mtime_ns, replace=key in view)
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
            state.remember_ids([(path, entry.size, entry.mtime_ns, entry.blob)])
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
        session.catalogue.mark_missing(removals)

    if new_paths:
        import_roots(session, remote, {k: key_to_root[k] for k in scan.local_roots if k in key_to_root},
                     only=new_paths)  # fmt: skip

    # Catalogue edits: three-way merge of what the user changed on each side.
    meta_view = merge.localize_meta(session.catalogue.user_meta(scan.root_keys), base.meta, scan.local_roots)
    merged_meta = merge.merge_meta(base.meta, meta_view, remote.meta)
    session.catalogue.apply_meta(scan.root_keys, merged_meta)


def _without_collisions(
    downloads: list[tuple[str, Entry, Path]], view: dict[str, Entry], roots: dict[str, Path], report: SyncReport
) -> list[tuple[str, Entry, Path]]:
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
        items = [(e.rel, k) for k, e, _d in new if merge.root_of(k) == root]
        _keep, clashes = names.collisions(items, folding)
        for rel, other in clashes:
            skipped.add(f"{root}/{rel}")
            report.problems.append(
                f"{roots[root] / rel}: not downloaded: this folder ignores {folding.describe()}, "
                f"so it would be the same file as {other}"
            )
    return [d for d in downloads if d[0] not in skipped]


def import_roots(session: "Session", snapshot: Snapshot, dest_roots: dict[str, Path], *,
                 only: set[str] | None = None) -> dict[str, int]:  # fmt: skip
    """Bring the catalogue rows of ``snapshot``'s roots into the session's library, each root
    from the database backup of the device that last pushed it, moved to ``dest_roots[key]``.

    :param only: disk paths (as moved) to import; default every file of those roots.
    :returns: rows added per table, summed over the backups used.
    """
    totals: dict[str, int] = {}
    for group in catalogue.root_databases(snapshot).values():
        roots_map = {path: dest_roots[key] for key, path in group.roots.items() if key in dest_roots}
        if not roots_map:
            continue
        db_tmp = session.tmp_dir() / f"import-{os.urandom(4).hex()}.sqlite"
        try:
            session.repo.restore_ref(group.database, db_tmp)
            added = session.catalogue.import_backup(db_tmp, roots_map, group.library_dir, only=only)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db_tmp) + suffix).unlink(missing_ok=True)
        for table, count in added.items():
            totals[table] = totals.get(table, 0) + count
    return totals
