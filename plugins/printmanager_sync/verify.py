"""Verifying the container: ``sync check``."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from . import crypto
from .snapshot import Snapshot
from .errors import BackendError, IntegrityError, ObjectMissing, WrongPassphrase
from .inventory import Inventory, problems_for
from .reports import CheckReport
from .session import Prompt, open_session

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

#: blobs downloaded by ``check`` without ``--all``
CHECK_SAMPLE = 20


def check(
    library: "Library",
    *,
    all_blobs: bool = False,
    sample: int = CHECK_SAMPLE,
    passphrase: str | None = None,
    prompt: Prompt | None = None,
) -> CheckReport:
    """Verify the container: config and key, head, every snapshot, that every referenced blob
    exists with the right size, and download-decrypt-verify a sample of blobs (or all).

    Everything ``sync now`` refuses on is a problem here too: a head older than the newest
    this library saw, a head deleted after it saw one, a repository created anew."""
    report = CheckReport()
    try:
        session = open_session(library, passphrase=passphrase, prompt=prompt, fresh=True)
    except (IntegrityError, ObjectMissing, WrongPassphrase) as exc:
        report.problems.append(f"repository: {exc}")
        report.opened = False
        return report
    with session:
        repo, state = session.repo, session.state
        inv = Inventory.take(repo)
        try:
            head, _tag = repo.head()
        except IntegrityError as exc:
            report.problems.append(f"head: {exc}")
            head = None
        # What `sync now` would refuse on: a rollback, a deleted head, another repository.
        report.problems += problems_for(
            repo, head, state.get("last") or {}, (state.get("repo_cache") or {}).get("config")
        )
        referenced: dict[str, int] = {}
        head_needs: set[str] = set()
        snapshot_ids = sorted(inv.snapshots)
        report.snapshots = len(snapshot_ids)
        if head is not None and head.snapshot not in inv.snapshots:
            report.problems.append(f"head points at a missing snapshot {head.snapshot[:16]}")
        for snap_id in snapshot_ids:
            try:
                raw = repo.load_snapshot(snap_id)
            except (IntegrityError, ObjectMissing) as exc:
                report.problems.append(f"snapshot {snap_id[:16]}: {exc}")
                continue
            try:
                blobs = Snapshot.from_json(raw).blobs()
            except IntegrityError:
                report.problems.append(f"snapshot {snap_id[:16]}: damaged (an entry without a blob or size)")
                continue
            referenced.update(blobs)
            if head is not None and snap_id == head.snapshot:
                head_needs.update(blobs)
        stored = inv.blobs
        report.blobs = len(stored)
        report.referenced = len(referenced)
        for blob, size in sorted(referenced.items()):
            whose = "the newest snapshot needs it" if blob in head_needs else "only older snapshots need it"
            if blob not in stored:
                report.problems.append(f"blob {blob[:16]}: missing ({whose})")
            elif stored[blob] != crypto.ciphertext_size(size):
                report.problems.append(
                    f"blob {blob[:16]}: stored size {stored[blob]}, expected {crypto.ciphertext_size(size)} ({whose})"
                )
        present = sorted(b for b in referenced if b in stored)
        chosen = present if all_blobs else random.sample(present, min(sample, len(present)))
        for blob in chosen:
            try:
                repo.read_blob(blob, lambda data: None)
            except (IntegrityError, ObjectMissing, BackendError) as exc:
                report.problems.append(f"blob {blob[:16]}: {exc}")
            report.checked += 1
    return report
