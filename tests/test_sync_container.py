"""Sync knows its container (issue 9): a container deleted by another device, lost blobs and
snapshots, a deleted or replayed head, a repository created anew. ``sync now`` never reports
success over a container it cannot restore from, puts back what it can, and ``sync check``
fails on everything ``sync now`` refuses. Each case runs on the folder backend and on moto's
real S3 server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import attrs
import pytest
from click.testing import CliRunner
from sync_support import PASSPHRASE, Server, make_prints, scanned_library, server, tree  # noqa: F401 (fixture)

from printmanager_core import Library
from printmanager_core.cli import load_commands
from printmanager_sync import check, enable, restore, sync_now
from printmanager_sync.errors import ContainerDamaged, ContainerGone, IntegrityError, Rollback
from printmanager_sync.snapshot import BlobRef
from printmanager_sync.state import SyncState


@attrs.define
class Device:
    lib: Library
    prints: Path
    user: str

    def prefix(self) -> str:
        return f"users/{self.user}/"


@pytest.fixture
def device(tmp_path: Path, corpus: Path, server: Server) -> Iterator[Device]:
    prints = make_prints(tmp_path / "A" / "Prints", corpus)
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    enable(lib, server.config, consent_given=True)
    assert sync_now(lib).pushed
    yield Device(lib, prints, SyncState(lib).config["user"])
    lib.close()


def _cli(library: Path, *args: str) -> Any:
    return CliRunner().invoke(load_commands(), ["--library", str(library), *args])


def _restored(tmp_path: Path, server: Server, name: str) -> dict[str, bytes]:
    lib = Library(tmp_path / name / "library")
    restore(lib, server.config, tmp_path / name / "files")
    lib.close()
    return tree(tmp_path / name / "files" / "Prints")


def _blob_of(device: Device, path: Path) -> str:
    blob = SyncState(device.lib).cached_ids()[str(path)][2]
    return f"{device.prefix()}data/{blob[:2]}/{blob}"


# -- a container deleted by another device ----------------------------------------------------


def _pm(library: Path, server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env, "PRINTMANAGER_SYNC_PASSPHRASE": PASSPHRASE}
    return subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(library), *args],
                          capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)  # fmt: skip


def test_a_container_deleted_by_another_device_is_reported_not_synced_into(
    device: Device, server: Server, tmp_path: Path
) -> None:
    """Device 2 restores, then runs `privacy delete --yes` (which deletes the remote objects, as
    it should); device 1's `sync now` (real processes), with nothing to push and then with a
    change, says what happened instead of "pushed" and leaves no half-made repository behind;
    `sync enable` again starts a complete new one."""
    lib_a = device.lib.directory
    device.lib.close()
    restored = _pm(tmp_path / "B" / "library", server, "sync", "restore", *server.cli_args(), "--to", str(tmp_path / "B" / "files"))
    assert restored.returncode == 0, restored.stderr
    deleted = _pm(tmp_path / "B" / "library", server, "privacy", "delete", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert server.names(device.prefix()) == []

    for change in (False, True):
        if change:
            shutil.copyfile(device.prints / "Spider" / "spider.obj", device.prints / "Spider" / "spider copy.obj")
            assert _pm(lib_a, server, "scan").returncode == 0
        now = _pm(lib_a, server, "sync", "now")
        assert now.returncode == 1 and now.stdout == "" and "pushed" not in now.stdout + now.stderr
        assert "Traceback" not in now.stderr and now.stderr.strip().count("\n") == 0
        assert "sync repository" in now.stderr and "is gone" in now.stderr and "sync enable" in now.stderr
        assert server.names(device.prefix()) == []  # not a single object: no silent half-state
    failed_check = _pm(lib_a, server, "sync", "check")
    assert failed_check.returncode == 1 and failed_check.stdout == ""

    again = _pm(lib_a, server, "sync", "enable", *server.cli_args(), "--i-consent")
    assert again.returncode == 0, again.stderr
    now = _pm(lib_a, server, "sync", "now", "--json")
    assert now.returncode == 0, now.stderr
    assert _pm(lib_a, server, "sync", "check", "--all").returncode == 0
    assert _restored(tmp_path, server, "C") == tree(device.prints)


def test_a_repository_created_anew_by_another_device_is_not_written_with_the_old_key(
    device: Device, server: Server, tmp_path: Path, corpus: Path
) -> None:
    from printmanager_sync.lifecycle import erase_remote

    other = scanned_library(tmp_path / "B" / "library", [make_prints(tmp_path / "B" / "Prints", corpus)])
    enable(other, server.config, consent_given=True, user=device.user)
    erase_remote(other)
    enable(other, server.config, consent_given=True, user=device.user)  # a new repository, same user id
    assert sync_now(other).pushed
    before = {n: server.read(n) for n in server.names(device.prefix())}
    device.lib.tag(device.lib.files()[0].id, "changed")
    with pytest.raises(ContainerDamaged, match="different sync repository"):
        sync_now(device.lib)
    assert {n: server.read(n) for n in server.names(device.prefix())} == before
    assert not check(device.lib).ok
    # joining it (sync enable again) starts this library afresh in the new repository
    enable(device.lib, server.config, consent_given=True)
    assert sync_now(device.lib).pushed and check(device.lib, all_blobs=True).ok
    other.close()


def test_a_lost_config_or_key_file_is_refused(device: Device, server: Server) -> None:
    keys = server.names(device.prefix() + "keys/")
    key_data = {k: server.read(k) for k in keys}
    server.delete(*keys)
    device.lib.tag(device.lib.files()[0].id, "x")
    with pytest.raises(ContainerDamaged, match="no key file"):
        sync_now(device.lib)
    for name, data in key_data.items():
        server.write(name, data)
    server.delete(device.prefix() + "config")
    with pytest.raises(ContainerGone, match="is gone"):
        sync_now(device.lib)


# -- lost blobs and snapshots ---------------------------------------------------------------------


def _a_day_later(lib: Library) -> None:
    """As if ``sync.inventory_hours`` had passed since the last full listing of the container."""
    SyncState(lib).set("listed_at", 0)


def test_a_no_change_sync_reads_only_the_head_until_a_listing_is_due(device: Device, server: Server) -> None:
    """While nothing changes, one request (the head); a lost blob goes unnoticed until the next
    full listing, which `sync.inventory_hours` spaces out (0: every sync) and which puts it back."""
    lost = _blob_of(device, device.prints / "Benchy" / "Wheel.stl")
    server.delete(lost)
    quick = sync_now(device.lib)
    assert not quick.pushed and quick.uploaded_blobs == 0 and quick.problems == []
    if server.s3 is not None:
        assert quick.requests == 1
    device.lib.settings.set("sync.inventory_hours", 0)
    healed = sync_now(device.lib)
    assert healed.uploaded_blobs >= 1 and any("vanished" in p for p in healed.problems)
    assert lost in server.names(device.prefix())
    device.lib.settings.set("sync.inventory_hours", 24)
    assert not sync_now(device.lib).pushed
    with pytest.raises(Exception, match="whole number of hours"):
        device.lib.settings.set("sync.inventory_hours", -1)


def test_a_lost_blob_is_uploaded_again_by_a_no_change_sync(device: Device, server: Server, tmp_path: Path) -> None:
    lost = _blob_of(device, device.prints / "Benchy" / "Wheel.stl")
    server.delete(lost)
    assert not check(device.lib).ok
    _a_day_later(device.lib)
    report = sync_now(device.lib)
    assert report.uploaded_blobs >= 1 and any("vanished" in p for p in report.problems)
    assert lost in server.names(device.prefix())
    assert check(device.lib, all_blobs=True).ok
    assert not sync_now(device.lib).pushed  # settled
    assert _restored(tmp_path, server, "B") == tree(device.prints)


def test_a_lost_database_backup_is_pushed_again(device: Device, server: Server, tmp_path: Path) -> None:
    db = BlobRef.from_json(SyncState(device.lib).get("last")["db"])
    assert db is not None and len(db.chunks) > 1  # stored in chunks (docs/sync.md, "Snapshot pages")
    lost = sorted(db.objects())
    server.delete(*(f"{device.prefix()}data/{b[:2]}/{b}" for b in lost))
    _a_day_later(device.lib)
    report = sync_now(device.lib)
    assert report.pushed and any("vanished" in p for p in report.problems)
    # the new head is whole; the older snapshot may stay damaged (chunks the new backup does not
    # share), and check says it is only the older one
    result = check(device.lib, all_blobs=True)
    assert all(p.startswith("blob ") and p.endswith("missing (only older snapshots need it)") for p in result.problems)
    assert {p.split()[1].rstrip(":") for p in result.problems} <= {b[:16] for b in lost}
    assert not sync_now(device.lib).pushed
    assert _restored(tmp_path, server, "B") == tree(device.prints)


def test_a_lost_snapshot_page_is_pushed_again(device: Device, server: Server, tmp_path: Path) -> None:
    """A page of the newest snapshot vanished: the snapshot cannot be read, so this device (which
    has every root of it) pushes a whole new one."""
    pages = sorted(SyncState(device.lib).get("last")["foreign"])
    snap = device.lib.directory / "sync" / "pages"
    page = next(p for p in pages if (snap / p).exists())  # a page (the rest are database chunks)
    server.delete(f"{device.prefix()}data/{page[:2]}/{page}")
    shutil.rmtree(snap)  # and this device's cache of it
    assert not check(device.lib).ok
    _a_day_later(device.lib)
    report = sync_now(device.lib)
    assert report.pushed and any("vanished" in p for p in report.problems)
    assert f"{device.prefix()}data/{page[:2]}/{page}" in server.names(device.prefix())
    assert check(device.lib, all_blobs=True).ok
    assert _restored(tmp_path, server, "B") == tree(device.prints)


def test_every_snapshot_lost_is_pushed_again(device: Device, server: Server, tmp_path: Path) -> None:
    server.delete(*server.names(device.prefix() + "snapshots/"))
    assert not check(device.lib).ok
    _a_day_later(device.lib)
    report = sync_now(device.lib)
    assert report.pushed and any("lost its newest snapshot" in p for p in report.problems)
    assert check(device.lib, all_blobs=True).ok
    assert _restored(tmp_path, server, "B") == tree(device.prints)


def test_a_blob_only_another_device_has_stops_the_sync(device: Device, server: Server, tmp_path: Path, corpus: Path) -> None:
    """Device C adds its own root; one of C's blobs vanishes. A cannot upload it: it refuses to
    publish (a snapshot that lacks it could not be restored) until C has put it back."""
    other = tmp_path / "C" / "Workshop"
    other.mkdir(parents=True)
    shutil.copyfile(corpus / "prusaslicer-shapes" / "M3_hex_nut.stl", other / "nut.stl")
    lib_c = scanned_library(tmp_path / "C" / "library", [other])
    enable(lib_c, server.config, consent_given=True, user=device.user)
    assert sync_now(lib_c).pushed
    assert sync_now(device.lib).merged
    lost = _blob_of(Device(lib_c, other, device.user), other / "nut.stl")
    server.delete(lost)
    device.lib.tag(device.lib.files()[0].id, "fromA")
    before = server.names(device.prefix() + "snapshots/")
    with pytest.raises(ContainerDamaged, match="only another device has them"):
        sync_now(device.lib)
    with pytest.raises(ContainerDamaged, match="only another device has them"):
        sync_now(device.lib)  # a no-change sync too: the head needs it
    assert server.names(device.prefix() + "snapshots/") == before  # nothing was published
    assert not check(device.lib).ok
    _a_day_later(lib_c)
    report = sync_now(lib_c)  # C notices and puts it back
    assert any("vanished" in p for p in report.problems)
    assert sync_now(device.lib).pushed and check(device.lib, all_blobs=True).ok
    lib_c.close()


# -- the head ---------------------------------------------------------------------------------------


def test_a_deleted_head_is_a_rollback_for_sync_and_check(device: Device, server: Server) -> None:
    server.delete(device.prefix() + "head")
    before = server.names(device.prefix())
    with pytest.raises(Rollback, match="head is gone"):
        sync_now(device.lib)
    assert server.names(device.prefix()) == before  # no new head was started
    result = check(device.lib, all_blobs=True)
    assert not result.ok and any("head is gone" in p for p in result.problems)
    checked = _cli(device.lib.directory, "sync", "check", "--all")
    assert checked.exit_code == 1 and checked.stdout == "" and "head is gone" in checked.stderr


def test_a_replayed_old_head_fails_sync_and_check(device: Device, server: Server) -> None:
    old = server.read(device.prefix() + "head")
    device.lib.tag(device.lib.files()[0].id, "x")
    assert sync_now(device.lib).pushed
    server.write(device.prefix() + "head", old)  # the provider serves an old head
    with pytest.raises(IntegrityError, match="older snapshot"):
        sync_now(device.lib)
    result = check(device.lib)
    assert not result.ok and any("older snapshot" in p for p in result.problems)
    checked = _cli(device.lib.directory, "sync", "check")
    assert checked.exit_code == 1 and checked.stdout == ""


def test_a_large_container_is_listed_in_slices_with_the_same_result(
    device: Device, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big containers on S3 are listed in 16 slices at once; what they find is the same, and a
    lost blob is still found and put back."""
    from printmanager_sync import inventory
    from printmanager_sync.session import open_session

    with open_session(device.lib) as session:
        whole = inventory.Inventory.take(session.repo)
        sliced = inventory.Inventory.take(session.repo, expected=10**6)
        before = session.requests()
    assert sliced == whole and len(whole.blobs) >= 3 and whole.config and whole.head and whole.keys
    if server.s3 is not None:
        assert before is not None and before >= 16 + 2 + 2  # the slices, keys/, snapshots/, config, head
    monkeypatch.setattr(inventory, "SHARDED_LISTING_FROM", 1)
    lost = _blob_of(device, device.prints / "Benchy" / "Wheel.stl")
    server.delete(lost)
    _a_day_later(device.lib)
    report = sync_now(device.lib)
    assert any("vanished" in p for p in report.problems) and lost in server.names(device.prefix())
    assert check(device.lib, all_blobs=True).ok
