"""Names in the container (issue 9): file names are bytes, hostile names are refused, a
case-insensitive target never has one file written over another, and nothing from outside
a root is ever uploaded. On the folder backend and moto's real S3 server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
import pytest
from casefold_fs import mounted
from sync_support import PASSPHRASE, Server, scanned_library, server, tree  # noqa: F401 (fixture)

from printmanager_core import Library
from printmanager_sync import check, enable, restore, sync_now
from printmanager_sync import format as fmt
from printmanager_sync.errors import IntegrityError
from printmanager_sync.session import open_session
from printmanager_sync.state import SyncState


@attrs.define
class Device:
    lib: Library
    prints: Path


@pytest.fixture
def device(tmp_path: Path, corpus: Path, server: Server) -> Iterator[Device]:
    prints = tmp_path / "A" / "Prints"
    (prints / "Benchy").mkdir(parents=True)
    shutil.copyfile(corpus / "Benchy multi-part" / "Wheel.stl", prints / "Benchy" / "Wheel.stl")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "M3_hex_nut.stl", prints / "nut.stl")
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    enable(lib, server.config, consent_given=True)
    assert sync_now(lib).pushed
    yield Device(lib, prints)
    lib.close()


def craft(lib: Library, change: Callable[[dict[str, Any], Any], None]) -> None:
    """Publish a new head whose snapshot is the current one after ``change(snapshot, repo)`` —
    through the plugin's own repository API, as a hostile or newer writer would."""
    with open_session(lib) as session:
        repo = session.repo
        head, tag = repo.read_head()
        snap = repo.load_snapshot(head["snapshot"])
        change(snap, repo)
        snap_id = repo.save_snapshot(snap)
        repo.write_head(snap_id, head["seq"] + 1, "crafted", expect=tag)


def _add(snap: dict[str, Any], repo: Any, rel: str, source: Path, *, like: int = 0) -> dict[str, Any]:
    """Add an entry for ``rel`` (in the root of entry ``like``) holding ``source``'s bytes."""
    st = source.stat()
    blob = repo.file_id(source)
    repo.put_file(str(source), blob, st.st_size, st.st_mtime_ns)
    entry = {"root": snap["files"][like]["root"], "rel": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "blob": blob}  # fmt: skip
    snap["files"].append(entry)
    snap["files"].sort(key=lambda e: (e["root"], e["rel"]))
    return entry


# -- hostile names --------------------------------------------------------------------------------

HOSTILE = ["../escape.stl", "/etc/escape.stl", "C:/escape.stl", "a\\..\\..\\escape.stl", "x.zip!/../../escape.stl",
           "nul\x00byte.stl", "bad\ud800surrogate.stl", "a//b.stl", "./a.stl"]  # fmt: skip


@pytest.mark.parametrize("rel", HOSTILE, ids=repr)
def test_hostile_snapshot_paths_are_refused_on_restore(device: Device, server: Server, tmp_path: Path, rel: str) -> None:
    def hostile(snap: dict[str, Any], repo: Any) -> None:
        snap["files"][0]["rel"] = rel

    craft(device.lib, hostile)
    lib_b = Library(tmp_path / "B" / "library")
    with pytest.raises(IntegrityError, match="unsafe path in snapshot"):
        restore(lib_b, server.config, tmp_path / "B" / "deep" / "files")
    assert not list((tmp_path / "B").rglob("escape.stl")) and not (tmp_path / "escape.stl").exists()
    assert not [p for p in (tmp_path / "B").rglob("*") if p.is_file() and p.suffix == ".stl"]  # refused before writing
    lib_b.close()


def test_a_nul_in_a_snapshot_path_is_a_one_line_error_in_a_real_process(device: Device, server: Server, tmp_path: Path) -> None:
    def nul(snap: dict[str, Any], repo: Any) -> None:
        snap["files"][0]["rel"] = "Benchy/Wh\x00eel.stl"

    craft(device.lib, nul)
    done = subprocess.run(
        [sys.executable, "-m", "printmanager_core", "--library", str(tmp_path / "B"), "sync", "restore",
         *server.cli_args(), "--to", str(tmp_path / "files")],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, **server.env, "PRINTMANAGER_SYNC_PASSPHRASE": PASSPHRASE},
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "unsafe path in snapshot" in done.stderr and "a NUL character" in done.stderr
    assert "internal error" not in done.stderr and done.stderr.strip().count("\n") == 0


# -- names are bytes ------------------------------------------------------------------------------

NAMES = {
    "Benchy/caf\udce9-latin1.stl": b"Benchy/caf\xe9-latin1.stl",  # Latin-1, not UTF-8
    "Benchy/two\nlines.stl": b"Benchy/two\nlines.stl",
    "Benchy/Caf\u00e9 NFC.stl": "Benchy/Caf\u00e9 NFC.stl".encode(),
    "Benchy/Cafe\u0301 NFC.stl": "Benchy/Cafe\u0301 NFC.stl".encode(),  # the NFD spelling of the same word
    "B\udcfcro/\udcff.stl": b"B\xfcro/\xff.stl",  # an undecodable folder too
}


def test_names_that_are_not_utf8_restore_with_their_exact_bytes(device: Device, server: Server, tmp_path: Path,
                                                                corpus: Path) -> None:  # fmt: skip
    sources = sorted((corpus / "prusaslicer-shapes").glob("*.stl"))[: len(NAMES)]

    def add(snap: dict[str, Any], repo: Any) -> None:
        for rel, source in zip(NAMES, sources):
            _add(snap, repo, rel, source)
        root = snap["files"][0]["root"]
        snap["meta"]["files"][f"{root}/Benchy/caf\udce9-latin1.stl"] = {"tags": ["latin1"]}
        # the stored plaintext is valid UTF-8 JSON carrying the byte as an escape
        raw = zlib.decompress(fmt.encode_snapshot(snap))
        raw.decode("utf-8")
        assert b"caf\\udce9-latin1.stl" in raw and fmt.decode_snapshot(fmt.encode_snapshot(snap)) == snap

    craft(device.lib, add)
    assert check(device.lib, all_blobs=True).ok
    lib_b = Library(tmp_path / "B" / "library")
    report = restore(lib_b, server.config, tmp_path / "B" / "files")
    assert not report.problems
    base = os.fsencode(tmp_path / "B" / "files" / "Prints")
    for (rel, exact), source in zip(NAMES.items(), sources):
        path = os.path.join(base, exact)
        with open(path, "rb") as f:
            assert f.read() == source.read_bytes(), exact
    assert set(os.listdir(os.path.join(base, b"Benchy"))) >= {b"caf\xe9-latin1.stl", b"two\nlines.stl"}
    # the restored device remembers those files losslessly (its next sync does not hash them again)
    cached = SyncState(lib_b).cached_ids()
    assert os.fsdecode(os.path.join(base, b"Benchy/caf\xe9-latin1.stl")) in cached
    lib_b.close()
    # "export everything" holds them too: a zip's names are UTF-8, so such a byte is written %XX
    from printmanager_core.privacy.export import export_library

    with zipfile.ZipFile(export_library(device.lib, tmp_path / "export.zip", include_cloud=True).path) as zf:
        listed = set(zf.namelist())
    assert {"cloud/Prints/Benchy/caf%E9-latin1.stl", "cloud/Prints/B%FCro/%FF.stl"} <= listed


def test_a_scanned_latin1_name_syncs_and_restores_with_its_exact_bytes(tmp_path: Path, corpus: Path,
                                                                       server: Server) -> None:  # fmt: skip
    prints = tmp_path / "A" / "Prints"
    prints.mkdir(parents=True)
    name = os.path.join(os.fsencode(prints), b"caf\xe9-latin1.stl")
    with open(name, "wb") as f:
        f.write((corpus / "prusaslicer-shapes" / "M3_hex_nut.stl").read_bytes())
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    enable(lib, server.config, consent_given=True)
    assert sync_now(lib).pushed
    lib_b = Library(tmp_path / "B" / "library")
    restore(lib_b, server.config, tmp_path / "B" / "files")
    assert os.listdir(os.path.join(os.fsencode(tmp_path / "B" / "files"), b"Prints")) == [b"caf\xe9-latin1.stl"]
    assert [os.fsencode(f.path) for f in lib_b.files()] == [
        os.path.join(os.fsencode(tmp_path / "B" / "files" / "Prints"), b"caf\xe9-latin1.stl")
    ]


# -- a case-insensitive target ---------------------------------------------------------------------


def test_restore_onto_a_case_insensitive_folder_reports_collisions(device: Device, server: Server, tmp_path: Path,
                                                                   corpus: Path) -> None:  # fmt: skip
    """Hull.stl and hull.stl are two files on Linux and one on NTFS, APFS or exFAT (here a
    real case-insensitive filesystem): the restore writes the first, reports the second, and
    overwrites nothing — neither in a restore nor when a later sync brings the other one."""
    hull = corpus / "Benchy multi-part" / "Chimney body.stl"
    deck = corpus / "Benchy multi-part" / "Deck surface.stl"
    shutil.copyfile(hull, device.prints / "Benchy" / "Hull.stl")
    device.lib.scan(workers=1, thumbnails=False)
    assert sync_now(device.lib).pushed

    def other_case(snap: dict[str, Any], repo: Any) -> None:
        _add(snap, repo, "Benchy/hull.stl", deck)

    craft(device.lib, other_case)
    plain = Library(tmp_path / "plain" / "library")  # a case-sensitive folder keeps both
    assert not restore(plain, server.config, tmp_path / "plain" / "files").problems
    assert {"Hull.stl", "hull.stl"} <= set(os.listdir(tmp_path / "plain" / "files" / "Prints" / "Benchy"))
    plain.close()

    with mounted(tmp_path / "backing", tmp_path / "ci") as ci:
        lib_b = Library(tmp_path / "B" / "library")
        report = restore(lib_b, server.config, ci / "files")
        benchy = ci / "files" / "Prints" / "Benchy"
        (problem,) = report.problems
        assert "hull.stl: not restored" in problem and "ignores case" in problem and "Hull.stl" in problem
        assert sorted(os.listdir(benchy)) == ["Hull.stl", "Wheel.stl"]
        assert (benchy / "Hull.stl").read_bytes() == hull.read_bytes()  # the first, not overwritten
        assert sorted(Path(f.path).name for f in lib_b.files() if "Benchy" in f.path) == ["Hull.stl", "Wheel.stl"]
        # a later sync that brings another spelling of an existing name leaves the file alone
        def another(snap: dict[str, Any], repo: Any) -> None:
            _add(snap, repo, "Benchy/WHEEL.stl", deck)

        craft(device.lib, another)
        pulled = sync_now(lib_b)
        assert any("WHEEL.stl" in p and "not overwritten" in p for p in pulled.problems)
        assert (benchy / "Wheel.stl").read_bytes() == (device.prints / "Benchy" / "Wheel.stl").read_bytes()
        lib_b.close()


# -- nothing from outside a root ------------------------------------------------------------------


def test_a_symlink_out_of_the_root_is_never_uploaded(device: Device, server: Server, tmp_path: Path) -> None:
    """A model pack with ``x.stl -> ~/.ssh/id_rsa`` (and a linked folder out of the root):
    the key never reaches the container; a link that stays inside the root is synced."""
    secret = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-" + os.urandom(16).hex().encode() + b"\n"
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_rsa").write_bytes(secret)
    (device.prints / "Benchy" / "x.stl").symlink_to(ssh / "id_rsa")
    (device.prints / "outside").symlink_to(ssh, target_is_directory=True)
    (device.prints / "nut again.stl").symlink_to(device.prints / "nut.stl")  # stays inside: its target is the file
    device.lib.scan(workers=1, thumbnails=False)
    root_id = device.lib.store.db.execute("select id from roots").fetchone()[0]
    for link in (device.prints / "Benchy" / "x.stl", device.prints / "outside" / "id_rsa"):
        if device.lib.store.db.execute("select 1 from files where path = ?", [str(link)]).fetchone() is None:
            # the scanner may already skip it; the sync side must hold on its own
            device.lib.store.db["files"].insert({"root_id": root_id, "path": str(link), "name": link.name,
                                           "format": "stl", "size_bytes": len(secret), "added_at": "2026-01-01"})  # fmt: skip
    report = sync_now(device.lib)
    refused = [p for p in report.problems if "leads outside its root" in p]
    assert len(refused) == 2 and report.pushed

    with open_session(device.lib) as session:
        for blob in session.repo.list_blobs():
            assert secret not in session.repo.read_blob_bytes(blob)
    lib_b = Library(tmp_path / "B" / "library")
    restore(lib_b, server.config, tmp_path / "B" / "files")
    restored = tree(tmp_path / "B" / "files" / "Prints")
    assert "Benchy/x.stl" not in restored and not any(k.startswith("outside") for k in restored)
    # a link inside the root is not a file of its own (docs/guide.md, "Scanning"): its target is restored
    assert restored["nut.stl"] == (device.prints / "nut.stl").read_bytes() and "nut again.stl" not in restored
    assert secret not in b"".join(restored.values())
    lib_b.close()
