"""Incremental snapshots (format version 2, docs/sync.md "Snapshot pages"): a small change uploads
a few small objects, a kill between the pages and the manifest leaves the container whole, and a
repository written in format version 1 still restores and moves to version 2 on the next sync."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sync_support import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    FaultProxy,
    MotoS3,
    Server,
    fault_proxy,
    make_prints,
    moto_s3,
    s3_env,
    scanned_library,
    server,
    tree,
)

from printmanager_core import Library
from printmanager_core.settings import now_iso
from printmanager_sync import check, crypto, enable, restore, sync_now
from printmanager_sync import format as fmt
from printmanager_sync.repository import Repository
from printmanager_sync.session import open_session
from printmanager_sync.state import SyncState


def _generated(base: Path, files: int, seed: int = 5) -> tuple[Library, list[Path]]:
    """A library of ``files`` small random files in model folders of 100, catalogued directly
    (as bench/sync_nochange.py does): many rows, little to upload."""
    rnd = random.Random(seed)
    root = base / "Prints"
    root.mkdir(parents=True)
    lib = Library(base / "library")
    now = now_iso()
    db = lib.store.db
    rid = db["roots"].insert({"path": str(root), "added_at": now}).last_pk
    models, rows, paths = [], [], []
    for m in range((files + 99) // 100):
        folder = root / f"model {m:03d}"
        folder.mkdir()
        models.append({"id": m + 1, "root_id": rid, "path": str(folder), "name": folder.name, "kind": "folder",
                       "created_at": now, "updated_at": now})  # fmt: skip
        for i in range(min(100, files - m * 100)):
            data = rnd.randbytes(64)
            path = folder / f"part {i:03d}.stl"
            path.write_bytes(data)
            rows.append({"root_id": rid, "model_id": m + 1, "path": str(path), "name": path.name, "format": "stl",
                         "size_bytes": len(data), "mtime_ns": path.stat().st_mtime_ns,
                         "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "added_at": now, "scanned_at": now})  # fmt: skip
            paths.append(path)
    with db.conn:
        db["models"].insert_all(models)
        db["files"].insert_all(rows)
    return lib, paths


def _objects(server: Server) -> dict[str, bytes]:
    return {n: server.read(n) for n in server.names()}


def _new(before: dict[str, bytes], after: dict[str, bytes]) -> dict[str, bytes]:
    return {n: b for n, b in after.items() if before.get(n) != b}


def test_a_one_file_change_uploads_a_few_small_objects(tmp_path: Path, passphrase_env: str) -> None:
    folder = tmp_path / "container"
    config = {"backend": "folder", "path": str(folder)}
    lib, paths = _generated(tmp_path / "A", 2000)
    enable(lib, config, consent_given=True)
    empty = _objects(Server(config, folder=folder))
    first = sync_now(lib)
    after_first = _objects(Server(config, folder=folder))
    meta_first = sum(len(b) for n, b in _new(empty, after_first).items()) - sum(
        os.path.getsize(p) + 42 for p in paths  # each file's ciphertext: 26-byte header, one 16-byte tag
    )
    snapshot = SyncState(lib).get("last")["snapshot"]
    with open_session(lib) as session:
        stored = Server(config, folder=folder).read(f"{session.repo.prefix}snapshots/{snapshot}")
        manifest = fmt.decode_snapshot(crypto.decrypt_bytes(session.repo.keys, "snapshot", snapshot, stored))
    assert manifest["version"] == 2 and len(manifest["files"]["pages"]) >= 2  # 2,000 files: several pages
    assert first.uploaded_metadata > 10

    target = paths[1234]
    target.write_bytes(b"changed" * 10)
    lib.tag(str(target), "changed")  # a catalogue edit too
    with lib.store.db.conn:
        lib.store.db["files"].update(lib.file(str(target)).id, {"size_bytes": 70, "mtime_ns": target.stat().st_mtime_ns})
    before = _objects(Server(config, folder=folder))
    one = sync_now(lib)
    new = _new(before, _objects(Server(config, folder=folder)))
    assert one.pushed and one.uploaded_blobs == 2  # the file and the database backup (a few of its chunks)
    new_meta = {n: b for n, b in new.items() if n.rsplit("/", 1)[-1] != "head"}
    # the file, the changed pages and chunks, the manifest: a small part of the first sync's metadata
    assert sum(map(len, new_meta.values())) < meta_first / 5, (len(new_meta), sum(map(len, new_meta.values())), meta_first)
    assert len(new_meta) < 60
    assert check(lib, all_blobs=True).ok
    lib.close()

    # a second device restores it: the changed file, its tag, every other file
    lib_b = Library(tmp_path / "B" / "library")
    restore(lib_b, config, tmp_path / "B" / "files")
    assert tree(tmp_path / "B" / "files" / "Prints") == tree(tmp_path / "A" / "Prints")
    restored = lib_b.file(str(tmp_path / "B" / "files" / "Prints" / target.relative_to(tmp_path / "A" / "Prints")))
    assert "changed" in restored.tags
    lib_b.close()


def _write_version_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the engine write what format version 1 wrote: the whole snapshot as one object, the
    database backup as one blob."""
    from printmanager_sync import pages

    monkeypatch.setattr(pages, "DB_CHUNKED_FROM", 1 << 40)
    monkeypatch.setattr(Repository, "paginate", lambda self, snap: ({**snap, "version": 1}, {}))


def test_a_version_1_repository_restores_and_moves_to_version_2(
    tmp_path: Path, corpus: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    prints = make_prints(tmp_path / "A" / "Prints", corpus)
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    enable(lib, server.config, consent_given=True)
    with monkeypatch.context() as m:
        _write_version_1(m)
        assert sync_now(lib).pushed
    with open_session(lib) as session:
        old = session.repo.load_snapshot(SyncState(lib).get("last")["snapshot"])
    assert old["version"] == 1 and isinstance(old["files"], list) and "chunks" not in old["database"]

    # an old repository restores with this version's code
    lib_b = Library(tmp_path / "B" / "library")
    restore(lib_b, server.config, tmp_path / "B" / "files")
    assert tree(tmp_path / "B" / "files" / "Prints") == tree(prints)
    assert len(lib_b.files()) == len(lib.files())

    # the next sync of a change writes version 2; the other device pulls it
    wheel = lib.file(str(prints / "Benchy" / "Wheel.stl"))
    lib.tag(wheel.id, "wheel")
    assert sync_now(lib).pushed
    with open_session(lib) as session:
        new = session.repo.load_snapshot(SyncState(lib).get("last")["snapshot"])
        assert new["version"] == 2 and new["structure"]
        assert session.repo.load_snapshot(new["parents"][0])["version"] == 1  # the old one stays readable
    report = sync_now(lib_b)
    assert report.merged
    assert "wheel" in lib_b.file(str(tmp_path / "B" / "files" / "Prints" / "Benchy" / "Wheel.stl")).tags
    assert check(lib, all_blobs=True).ok
    lib.close()
    lib_b.close()


def _pm_sync(library: Path, s3: MotoS3) -> subprocess.Popen[str]:
    env = {**os.environ, "PRINTMANAGER_SYNC_PASSPHRASE": PASSPHRASE, "AWS_ACCESS_KEY_ID": s3.access_key_id,
           "AWS_SECRET_ACCESS_KEY": s3.secret_access_key, "PRINTMANAGER_LOAD_PLUGINS": "sync"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "printmanager_core", "--library", str(library), "sync", "now"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def _whole(lib: Library) -> None:
    """Every snapshot in the container reads (manifest and pages), and everything the head's
    snapshot needs is there."""
    from printmanager_sync.inventory import Inventory

    with open_session(lib) as session:
        repo = session.repo
        repo.page_cache = None  # read from the container only
        inv = Inventory.take(repo)
        for snap_id in inv.snapshots:
            assert not inv.missing(repo.snapshot(snap_id).blobs()), snap_id
        head, _tag = repo.head()
        assert head is not None and head.snapshot in inv.snapshots


@pytest.mark.parametrize("where", ["manifest", "pages"])
def test_a_sync_killed_while_writing_its_snapshot_leaves_the_container_whole(
    where: str, tmp_path: Path, corpus: Path, s3_env: MotoS3, fault_proxy: FaultProxy, passphrase_env: str
) -> None:
    """A real ``sync now`` process, killed (SIGKILL) while the proxy holds the upload of its
    snapshot manifest (every page already stored) or of one of its pages and chunks (some stored,
    some not): no snapshot names a missing object, the head is the last whole one, and the next
    sync finishes the job."""
    lib, paths = _generated(tmp_path / "A", 400)
    config = {"backend": "s3", "endpoint": fault_proxy.endpoint, "bucket": s3_env.new_bucket()}
    enable(lib, config, consent_given=True)
    assert sync_now(lib).pushed
    before = SyncState(lib).get("last")["snapshot"]
    for p in paths[::20]:  # edits spread over the catalogue: many pages and chunks change
        lib.tag(str(p), "edited")
    lib.close()
    if where == "manifest":
        held = fault_proxy.add("PUT", r"/snapshots/", "stall", seconds=8)
    else:
        held = fault_proxy.add("PUT", r"/data/", "stall", seconds=8)  # the first page or chunk
    proc = _pm_sync(tmp_path / "A" / "library", s3_env)
    try:
        deadline = time.monotonic() + 60
        while held.hits == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert held.hits == 1, proc.communicate()
        time.sleep(0.3)  # other uploads in flight land (or not)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    fault_proxy.clear()
    lib = Library(tmp_path / "A" / "library")
    _whole(lib)
    with open_session(lib) as session:
        head, _tag = session.repo.head()
    assert head is not None and head.snapshot == before  # the killed sync published nothing
    report = sync_now(lib)
    assert report.pushed
    _whole(lib)
    assert check(lib, all_blobs=True).ok
    lib.close()
    lib_b = Library(tmp_path / "B" / "library")
    restore(lib_b, {**config, "endpoint": s3_env.endpoint}, tmp_path / "B" / "files")  # past the proxy
    edited = tmp_path / "B" / "files" / "Prints" / paths[20].relative_to(tmp_path / "A" / "Prints")
    assert "edited" in lib_b.file(str(edited)).tags
    lib_b.close()


def test_pull_reads_only_the_pages_it_lacks(tmp_path: Path, passphrase_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Device B pulls A's one-tag change: of the snapshot's pages it downloads only those its
    cache does not hold (the changed ones)."""
    folder = tmp_path / "container"
    config = {"backend": "folder", "path": str(folder)}
    lib, paths = _generated(tmp_path / "A", 2000)
    enable(lib, config, consent_given=True)
    assert sync_now(lib).pushed
    lib_b = Library(tmp_path / "B" / "library")
    restore(lib_b, config, tmp_path / "B" / "files")
    assert not sync_now(lib_b).pushed  # B agrees with A's snapshot, its pages cached
    lib.tag(str(paths[700]), "pulled")
    assert sync_now(lib).pushed
    read: list[str] = []
    original = Repository.read_page

    def counting(self: Repository, blob_id: str) -> bytes:
        if self._cached_page(blob_id) is None:
            read.append(blob_id)
        return original(self, blob_id)

    with monkeypatch.context() as m:
        m.setattr(Repository, "read_page", counting)
        report = sync_now(lib_b)
    assert report.merged
    with open_session(lib_b) as session:
        pages = session.repo.load_snapshot(SyncState(lib_b).get("last")["snapshot"])["structure"]
    # the changed pages (the edits, the database's chunk list), not the file lists
    assert 0 < len(read) < len(pages) and sum(pages[b] for b in read) < sum(pages.values()) / 3
    pulled = tmp_path / "B" / "files" / "Prints" / paths[700].relative_to(tmp_path / "A" / "Prints")
    assert "pulled" in lib_b.file(str(pulled)).tags
    lib.close()
    lib_b.close()
