"""Sync end to end over the folder backend, with real corpus files and real libraries:
push, restore, two devices converging, races for the head, bit flips, no plaintext."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import attrs
import pytest
from PIL import Image
from sync_support import (
    container_objects,
    flip_bit,
    make_prints,
    scanned_library,
    tree,
)

from printmanager_core import Library
from printmanager_sync import catalogue, check, disable, enable, restore, status, sync_now
from printmanager_sync.errors import IntegrityError, SyncDisabled, WrongPassphrase
from printmanager_sync.repository import Repository
from printmanager_sync.state import SyncState


@attrs.define
class Device:
    lib: Library
    prints: Path

    def tags(self) -> dict[str, tuple[str, ...]]:
        return {
            f.path.split(str(self.prints.parent) + os.sep, 1)[-1]: f.tags for f in self.lib.files() if f.tags
        }


def _thumbnail(lib: Library) -> Path:
    """A real PNG in the library's thumbnails folder, linked to the first file."""
    path = lib.directory / "thumbnails" / "ab" / "abcdef-256.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    first = lib.files()[0]
    with lib.store.db.conn:
        lib.store.db.execute("update files set thumbnail_path = ? where id = ?", [str(path), first.id])
    return path


@pytest.fixture
def container(tmp_path: Path) -> dict[str, Any]:
    return {"backend": "folder", "path": str(tmp_path / "container")}


@pytest.fixture
def device_a(tmp_path: Path, corpus: Path, container: dict[str, Any], passphrase_env: str) -> Any:
    prints = make_prints(tmp_path / "A" / "Prints", corpus)
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    assert len(lib.files()) >= 12
    enable(lib, container, consent_given=True)
    yield Device(lib, prints)
    lib.close()


def _restore_b(tmp_path: Path, container: dict[str, Any]) -> Device:
    lib = Library(tmp_path / "B" / "library")
    report = restore(lib, container, tmp_path / "B" / "files")
    assert report.files > 0
    return Device(lib, tmp_path / "B" / "files" / "Prints")


def test_push_then_restore_is_byte_identical_with_catalogue(device_a: Device, tmp_path: Path, container: dict[str, Any]) -> None:
    a = device_a
    first = a.lib.files()[0]
    a.lib.tag(first.id, "benchy", "favourite")
    a.lib.set_file_notes(first.id, "print at 0.15 mm")
    model = a.lib.models()[0]
    a.lib.update_model(model.id, creator="CreativeTools", licence="CC0")
    a.lib.add_to_collection("boats", model.id)
    thumb = _thumbnail(a.lib)

    report = sync_now(a.lib)
    assert report.pushed and report.files == len({f.archive_path or f.path for f in a.lib.files()})
    assert report.uploaded_blobs == report.files + 2  # the files, the thumbnail, the database backup

    b = _restore_b(tmp_path, container)
    assert tree(b.prints) == tree(a.prints)
    for path in b.prints.rglob("*"):
        if path.is_file():
            assert path.stat().st_mtime_ns == (a.prints / path.relative_to(b.prints)).stat().st_mtime_ns
    # the catalogue is rebuilt under the new folder: same files, facts and user edits
    fa = {f.path.replace(str(a.prints), ""): f for f in a.lib.files()}
    fb = {f.path.replace(str(b.prints), ""): f for f in b.lib.files()}
    assert fa.keys() == fb.keys()
    for key, f in fa.items():
        g = fb[key]
        assert (g.hash, g.size_bytes, g.triangles, g.tags, g.notes, g.format) == (
            f.hash, f.size_bytes, f.triangles, f.tags, f.notes, f.format
        )  # fmt: skip
    mb = {m.name: m for m in b.lib.models()}
    assert mb[model.name].creator == "CreativeTools" and mb[model.name].collections == ("boats",)
    assert b.lib.roots() == [str(b.prints)]
    # the thumbnail comes back into the new library, and the catalogue points at it
    restored_thumb = b.lib.directory / "thumbnails" / "ab" / "abcdef-256.png"
    assert restored_thumb.read_bytes() == thumb.read_bytes()
    assert fb[first.path.replace(str(a.prints), "")].thumbnail == str(restored_thumb)
    # restoring leaves the new device syncing, and with nothing to push
    assert status(b.lib)["enabled"] and not sync_now(b.lib).pushed


def test_no_change_sync_writes_nothing(device_a: Device, container: dict[str, Any]) -> None:
    sync_now(device_a.lib)
    before = container_objects(Path(container["path"]))
    report = sync_now(device_a.lib)
    assert not report.pushed and report.uploaded_blobs == 0
    assert container_objects(Path(container["path"])) == before
    # a tag is a change: a new snapshot, and only the database backup is uploaded again
    device_a.lib.tag(device_a.lib.files()[0].id, "new")
    report = sync_now(device_a.lib)
    assert report.pushed and report.uploaded_blobs == 1


def test_two_devices_converge(device_a: Device, tmp_path: Path, container: dict[str, Any]) -> None:
    a = device_a
    sync_now(a.lib)
    b = _restore_b(tmp_path, container)
    files_b = {Path(f.path).name: f for f in b.lib.files()}
    files_a = {Path(f.path).name: f for f in a.lib.files()}

    # B: tags, a note, a model field, a collection
    b.lib.tag(files_b["Wheel.stl"].id, "fromB", "shared")
    b.lib.set_file_notes(files_b["Window.stl"].id, "needs supports")
    benchy_b = next(m for m in b.lib.models() if m.name == "Benchy")
    b.lib.update_model(benchy_b.id, creator="CreativeTools")
    b.lib.add_to_collection("boats", benchy_b.id)
    assert sync_now(b.lib).pushed

    # A, meanwhile: other tags, a new file, a deleted file
    a.lib.tag(files_a["Cargo box.stl"].id, "fromA")
    a.lib.tag(files_a["Wheel.stl"].id, "shared")
    new = a.prints / "Benchy" / "Hull copy.stl"
    shutil.copyfile(a.prints / "Benchy" / "Deck surface.stl", new)
    (a.prints / "Spider" / "spider.obj").unlink()
    a.lib.scan(thumbnails=False, workers=1)
    report = sync_now(a.lib)
    assert report.merged and report.pushed

    report = sync_now(b.lib)
    assert report.merged and report.downloaded_files == 1 and report.removed_files == 1
    assert not report.pushed  # B took A's merged snapshot as it is
    assert (b.prints / "Benchy" / "Hull copy.stl").read_bytes() == new.read_bytes()
    assert not (b.prints / "Spider" / "spider.obj").exists()
    assert list((b.lib.directory / "sync" / "trash").rglob("spider.obj"))  # moved aside, not destroyed
    assert tree(b.prints) == tree(a.prints)

    meta_a = catalogue.Catalogue(a.lib).user_meta(SyncState(a.lib).root_keys())
    meta_b = catalogue.Catalogue(b.lib).user_meta(SyncState(b.lib).root_keys())
    assert meta_a == meta_b
    assert a.tags() == b.tags()
    assert a.tags()["Prints/Benchy/Wheel.stl"] == ("fromB", "shared")
    assert b.lib.file(str(b.prints / "Benchy" / "Hull copy.stl")).triangles == a.lib.file(str(new)).triangles
    assert next(m for m in a.lib.models() if m.name == "Benchy").collections == ("boats",)

    # a file edited on A replaces B's copy, and B's catalogue reads it
    wheel_a = a.prints / "Benchy" / "Wheel.stl"
    shutil.copyfile(a.prints / "Benchy" / "Window.stl", wheel_a)
    a.lib.scan(thumbnails=False, workers=1)
    assert sync_now(a.lib).pushed
    report = sync_now(b.lib)
    assert report.downloaded_files == 1 and not report.pushed
    wheel_b = b.lib.file(str(b.prints / "Benchy" / "Wheel.stl"))
    assert (b.prints / "Benchy" / "Wheel.stl").read_bytes() == wheel_a.read_bytes()
    assert wheel_b.hash == a.lib.file(str(wheel_a)).hash and wheel_b.tags == ("fromB", "shared")

    # removals propagate too: B untags, A follows
    b.lib.untag(b.lib.file(str(b.prints / "Benchy" / "Wheel.stl")).id, "shared")
    sync_now(b.lib)
    sync_now(a.lib)
    assert a.lib.file(str(a.prints / "Benchy" / "Wheel.stl")).tags == ("fromB",)
    assert not sync_now(a.lib).pushed and not sync_now(b.lib).pushed  # settled


def test_racing_pushes_merge_instead_of_overwriting(device_a: Device, tmp_path: Path, container: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    a = device_a
    sync_now(a.lib)
    b = _restore_b(tmp_path, container)
    a.lib.tag(a.lib.file(str(a.prints / "Benchy" / "Wheel.stl")).id, "fromA")
    b.lib.tag(b.lib.file(str(b.prints / "Benchy" / "Window.stl")).id, "fromB")

    # B pushes in the instant between A reading the head and A moving it.
    real = Repository.write_head
    calls = []

    def write_head(self: Repository, *args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(1)
            monkeypatch.setattr(Repository, "write_head", real)
            assert sync_now(b.lib).pushed
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "write_head", write_head)
    report = sync_now(a.lib)
    assert calls and report.merged and report.pushed
    sync_now(b.lib)
    assert a.tags() == b.tags() == {"Prints/Benchy/Wheel.stl": ("fromA",), "Prints/Benchy/Window.stl": ("fromB",)}


def test_no_name_path_tag_or_file_header_in_the_container(device_a: Device, container: dict[str, Any]) -> None:
    a = device_a
    for f in a.lib.files():
        a.lib.tag(f.id, "secret-tag-" + str(f.id))
    a.lib.set_file_notes(a.lib.files()[0].id, "private note about my boat")
    _thumbnail(a.lib)
    sync_now(a.lib)
    objects = container_objects(Path(container["path"]))
    assert len(objects) > 15
    # Headers whole (the PNG signature's 8 bytes, a zip's local header with its version, a
    # bgcode's magic with its version): a 4-byte needle turns up in random ciphertext about once
    # in 4 GB scanned, and this container holds megabytes (a run hit b"\x89PNG" by chance).
    needles = {b"solid ", b"STL File created", b"PK\x03\x04\x14\x00", b"[Content_Types].xml", b"; generated by",
               b";FLAVOR", b"GCDE\x01\x00\x00\x00", b"\x89PNG\r\n\x1a\n", b"SQLite format 3", b"private note", b"secret-tag", b"Benchy", b"Prints",
               b"Spider", b"sliced", str(a.prints).encode(), str(a.lib.directory).encode()}  # fmt: skip
    for f in a.lib.files():
        needles.add(Path(f.path).name.encode())
        needles.add(Path(f.path).stem.encode())
    needles = {n for n in needles if len(n) >= 6}  # shorter ones match ciphertext by chance
    for name, data in objects.items():
        for needle in needles:
            assert needle not in data, f"{needle!r} in {name}"
            assert needle.decode(errors="ignore") not in name
    # object names are ids, not names
    for name in objects:
        parts = name.split("/")
        assert parts[0] == "users" and (parts[2] in ("config", "head") or len(parts[-1]) in (16, 64))


@pytest.mark.parametrize("target", ["data", "snapshot", "head", "config", "key"])
def test_bit_flips_are_detected_by_check_and_on_restore(device_a: Device, tmp_path: Path, container: dict[str, Any], target: str) -> None:
    sync_now(device_a.lib)
    assert check(device_a.lib, all_blobs=True).ok
    root = Path(container["path"])
    user = next((root / "users").iterdir())
    pick = {
        "data": lambda: max((p for p in (user / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size),
        "snapshot": lambda: next((user / "snapshots").iterdir()),
        "head": lambda: user / "head",
        "config": lambda: user / "config",
        "key": lambda: next((user / "keys").iterdir()),
    }[target]()
    size = pick.stat().st_size
    flip_bit(pick, {"config": size // 2, "key": size - 30}.get(target, size // 3), bit=1)

    report = check(device_a.lib, all_blobs=True)
    assert not report.ok and report.problems

    dest = tmp_path / "B" / "files"
    lib_b = Library(tmp_path / "B" / "library")
    with pytest.raises((IntegrityError, WrongPassphrase)) as info:
        restore(lib_b, container, dest)
    if target == "key":  # the only key file no longer opens
        assert "damaged key file" in str(info.value)
    # nothing half-written is left behind as if it were a file
    leftovers = [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
    assert not [p for p in leftovers if ".pm-restore-" in p.name]
    for p in leftovers:
        assert p.read_bytes() == (device_a.prints / p.relative_to(dest / "Prints")).read_bytes()
    assert not status(lib_b)["enabled"]  # an unfinished restore leaves sync off
    lib_b.close()


def test_rollback_of_the_head_is_refused(device_a: Device, container: dict[str, Any]) -> None:
    sync_now(device_a.lib)
    user = next((Path(container["path"]) / "users").iterdir())
    old_head = (user / "head").read_bytes()
    device_a.lib.tag(device_a.lib.files()[0].id, "x")
    sync_now(device_a.lib)
    (user / "head").write_bytes(old_head)  # the provider serves an old head
    with pytest.raises(IntegrityError, match="older snapshot"):
        sync_now(device_a.lib)


def test_file_changed_during_upload_is_not_stored_under_the_old_id(device_a: Device, monkeypatch: pytest.MonkeyPatch) -> None:
    target = device_a.prints / "sliced" / "cura_torus.gcode"
    real = Repository.put_file

    def put_file(self: Repository, path: str, *args: Any, **kwargs: Any) -> Any:
        if path == str(target) and not getattr(put_file, "done", False):
            put_file.done = True  # type: ignore[attr-defined]
            with open(target, "r+b") as f:  # same size, same second: only the content differs
                f.seek(100)
                f.write(b"X")
        return real(self, path, *args, **kwargs)

    st = target.stat()
    monkeypatch.setattr(Repository, "put_file", put_file)
    report = sync_now(device_a.lib)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert report.pushed and any("changed while" in p for p in report.problems)
    assert check(device_a.lib, all_blobs=True).ok
    monkeypatch.setattr(Repository, "put_file", real)
    report = sync_now(device_a.lib)  # hashed again: the new content goes up under its own id
    assert report.pushed and report.uploaded_blobs == 1 and check(device_a.lib, all_blobs=True).ok


def test_withdrawing_consent_stops_a_running_sync(device_a: Device, monkeypatch: pytest.MonkeyPatch, container: dict[str, Any]) -> None:
    real = Repository.put_file
    state = {"n": 0}

    def put_file(self: Repository, *args: Any, **kwargs: Any) -> Any:
        state["n"] += 1
        if state["n"] == 2:  # the user clicks "disable" in another window (another connection)
            with Library(device_a.lib.directory) as other:
                other.settings.set("privacy.sync", False, detail={"action": "disable"}, source="test")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "put_file", put_file)
    with pytest.raises(SyncDisabled):
        sync_now(device_a.lib, workers=1)
    user = next((Path(container["path"]) / "users").iterdir())
    assert not (user / "head").exists()  # nothing was published
    assert state["n"] <= 3
    with pytest.raises(SyncDisabled):
        sync_now(device_a.lib)
    assert tree(device_a.prints)  # local files untouched


def test_disable_keeps_files_and_offers_deletion(device_a: Device, container: dict[str, Any]) -> None:
    sync_now(device_a.lib)
    before = tree(device_a.prints)
    result = disable(device_a.lib)
    assert result == {"enabled": False, "remote_objects_deleted": None}
    assert tree(device_a.prints) == before
    assert container_objects(Path(container["path"]))  # kept until the user asks
    with pytest.raises(SyncDisabled):
        sync_now(device_a.lib)
    result = disable(device_a.lib, delete_remote=True)  # later: delete the remote copy too
    assert result["remote_objects_deleted"] > 10
    assert container_objects(Path(container["path"])) == {}
    ledger = [e for e in device_a.lib.settings.consent_ledger() if e["switch"] == "privacy.sync"]
    assert [e["value"] for e in ledger] == [True, False, False]
    assert ledger[-1]["detail"]["delete_remote"] is True


def test_one_sync_at_a_time_per_library(device_a: Device) -> None:
    from printmanager_sync.errors import SyncError

    lock = device_a.lib.directory / "sync" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(SyncError, match="another sync"):
        sync_now(device_a.lib)
    lock.write_text("999999999")  # a process that is gone: stale, taken over
    assert sync_now(device_a.lib).pushed and not lock.exists()


def test_a_device_with_its_own_folder_joins_and_both_roots_pass_through(
    device_a: Device, tmp_path: Path, corpus: Path, container: dict[str, Any]
) -> None:
    sync_now(device_a.lib)
    other = tmp_path / "C" / "Workshop"
    other.mkdir(parents=True)
    shutil.copyfile(corpus / "prusaslicer-shapes" / "M3_hex_nut.stl", other / "nut.stl")
    lib_c = scanned_library(tmp_path / "C" / "library", [other])
    enable(lib_c, container, consent_given=True, user=SyncState(device_a.lib).config["user"])
    lib_c.tag(lib_c.files()[0].id, "hardware")
    report = sync_now(lib_c)
    assert report.merged and report.pushed and report.downloaded_files == 0  # A's root is not C's
    device_a.lib.tag(device_a.lib.files()[0].id, "fromA")
    report = sync_now(device_a.lib)
    assert report.merged and report.pushed and report.downloaded_files == 0
    assert not (device_a.prints.parent / "Workshop").exists()
    # a new device restores both roots, with both devices' edits
    lib_d = Library(tmp_path / "D" / "library")
    restore(lib_d, container, tmp_path / "D" / "files")
    assert tree(tmp_path / "D" / "files" / "Workshop") == tree(other)
    assert tree(tmp_path / "D" / "files" / "Prints") == tree(device_a.prints)
    assert {t for f in lib_d.files() for t in f.tags} == {"hardware", "fromA"}
    assert not sync_now(lib_c).pushed  # C takes A's snapshot as it is
    for lib in (lib_c, lib_d):
        lib.close()


def _hold_write_lock(library_dir: Path) -> Any:
    """Another process holding ``library_dir``'s write lock, as a running scan does."""
    import subprocess
    import sys

    code = (
        "import sys; from printmanager_core import Library; lib = Library(sys.argv[1]);\n"
        "with lib.write_lock('scan'):\n    print('held', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(library_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_restore_and_a_pulling_sync_take_the_library_write_lock(device_a: Device, tmp_path: Path,
                                                                container: dict[str, Any]) -> None:  # fmt: skip
    """Restoring and pulling write files and the catalogue: they wait for (here: refuse, with a
    zero timeout) another writer of the library — a scan in another process. A sync that only
    pushes does not write the catalogue and goes ahead."""
    from printmanager_core.errors import LibraryBusy

    sync_now(device_a.lib)
    lib_dir = tmp_path / "B" / "library"
    Library(lib_dir).close()
    holder = _hold_write_lock(lib_dir)
    try:
        lib_b = Library(lib_dir, lock_timeout=0)
        with pytest.raises(LibraryBusy, match="another scan of this library is running"):
            restore(lib_b, container, tmp_path / "B" / "files")
        assert not (tmp_path / "B" / "files").exists() and lib_b.files() == []
    finally:
        holder.communicate("", timeout=30)
    report = restore(lib_b, container, tmp_path / "B" / "files")
    assert report.files > 0
    # device A changes a tag; B's next sync pulls it, which needs the lock
    device_a.lib.tag(device_a.lib.files()[0].id, "from-a")
    assert sync_now(device_a.lib).pushed
    holder = _hold_write_lock(lib_dir)
    try:
        with pytest.raises(LibraryBusy, match="another scan"):
            sync_now(lib_b)
        assert not any("from-a" in f.tags for f in lib_b.files())
        lib_a_dir = device_a.lib.directory
        other = _hold_write_lock(lib_a_dir)
        try:  # A has nothing to pull: its sync goes ahead beside a scan of A
            device_a.lib.tag(device_a.lib.files()[0].id, "pushed-beside-a-scan")
            assert sync_now(device_a.lib).pushed
        finally:
            other.communicate("", timeout=30)
    finally:
        holder.communicate("", timeout=30)
    assert sync_now(lib_b).merged
    assert any("from-a" in f.tags for f in lib_b.files())
    lib_b.close()
