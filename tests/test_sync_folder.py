"""The folder backend and the repository on top of it: atomic writes, compare-and-swap of
the head, key files, and user scope."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from sync_support import PASSPHRASE

from printmanager_sync import crypto
from printmanager_sync import format as fmt
from printmanager_sync.backends.folder import LOCK_SUFFIX, STALE_LOCK_S, TMP_PREFIX, FolderBackend
from printmanager_sync.errors import Conflict, IntegrityError, ObjectMissing, SourceChanged, SyncError, WrongPassphrase
from printmanager_sync.repository import Repository, delete_user_objects


@pytest.fixture
def backend(tmp_path: Path) -> FolderBackend:
    return FolderBackend(tmp_path / "container")


def test_put_get_list_delete(backend: FolderBackend) -> None:
    backend.put_bytes("users/u/data/ab/x", b"hello")
    assert backend.get_bytes("users/u/data/ab/x") == b"hello"
    assert backend.stat("users/u/data/ab/x").size == 5
    got: list[bytes] = []
    assert backend.get("users/u/data/ab/x", got.append) == 5 and b"".join(got) == b"hello"
    assert [i.name for i in backend.list("users/u/")] == ["users/u/data/ab/x"]
    assert backend.list_dirs("users/") == ["u"]
    assert backend.delete(["users/u/data/ab/x", "users/u/data/ab/missing"]) == 1
    assert backend.get_bytes("users/u/data/ab/x") is None
    assert not (backend.root / "users" / "u" / "data").exists()  # empty folders go too
    with pytest.raises(ObjectMissing):
        backend.get("users/u/nothing", got.append)
    for bad in ("../x", "/abs", "a//b", "a/../b"):
        with pytest.raises(SyncError):
            backend.put_bytes(bad, b"x")


def test_failed_upload_leaves_no_object_and_no_temp_file(backend: FolderBackend) -> None:
    keys = crypto.RepositoryKeys(os.urandom(32), os.urandom(16))
    data = bytearray(os.urandom(3 * crypto.CHUNK_SIZE))
    blob_id = keys.object_id(bytes(data))

    def read_at(offset: int, n: int) -> bytes:
        if offset == crypto.CHUNK_SIZE:
            data[-1] ^= 1  # the file changes while it is uploaded
        return bytes(data[offset : offset + n])

    enc = crypto.ObjectEncryptor(keys, "blob", blob_id, len(data), read_at)
    with pytest.raises(SourceChanged):
        backend.put("users/u/" + fmt.blob_name(blob_id), enc)
    assert [p for p in backend.root.rglob("*") if p.is_file()] == []


def test_temporary_and_lock_files_are_not_objects(backend: FolderBackend) -> None:
    backend.put_bytes("users/u/head", b"x")
    (backend.root / "users" / "u" / f"{TMP_PREFIX}123").write_bytes(b"partial")
    (backend.root / "users" / "u" / f"head{LOCK_SUFFIX}").write_bytes(b"1")
    assert [i.name for i in backend.list("users/")] == ["users/u/head"]
    assert backend.abort_uploads("users/u/") == 2


def test_head_compare_and_swap_lets_exactly_one_writer_win(backend: FolderBackend) -> None:
    first = backend.write_conditional("users/u/head", b"v1", expect=None)
    with pytest.raises(Conflict):
        backend.write_conditional("users/u/head", b"again", expect=None)
    wins, losses = [], []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            wins.append(backend.write_conditional("users/u/head", f"v2-{i}".encode(), expect=first))
        except Conflict:
            losses.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    data, tag = backend.read_versioned("users/u/head")
    assert tag == wins[0] and data.startswith(b"v2-")


def test_stale_lock_is_broken(backend: FolderBackend) -> None:
    tag = backend.write_conditional("users/u/head", b"v1", expect=None)
    lock = backend.root / "users" / "u" / f"head{LOCK_SUFFIX}"
    lock.write_text("12345\n")
    old = time.time() - STALE_LOCK_S - 5
    os.utime(lock, (old, old))
    backend.write_conditional("users/u/head", b"v2", expect=tag)
    assert backend.get_bytes("users/u/head") == b"v2" and not lock.exists()


def test_repository_init_open_and_passphrases(backend: FolderBackend) -> None:
    repo = Repository.init(backend, "alice", PASSPHRASE)
    assert Repository.exists(backend, "alice") and Repository.users(backend) == ["alice"]
    with pytest.raises(SyncError, match="already has a repository"):
        Repository.init(backend, "alice", "other")
    again = Repository.open(backend, "alice", PASSPHRASE)
    assert again.keys.master == repo.keys.master
    with pytest.raises(WrongPassphrase):
        Repository.open(backend, "alice", "not it")
    # a cached master key opens without the passphrase; a wrong one falls back to it
    assert Repository.open(backend, "alice", None, master=repo.keys.master).keys.master == repo.keys.master
    with pytest.raises(WrongPassphrase):
        Repository.open(backend, "alice", None, master=os.urandom(32))
    # a second passphrase opens the same repository
    repo.add_passphrase("second one")
    assert Repository.open(backend, "alice", "second one").keys.master == repo.keys.master


def test_damaged_config_is_detected(backend: FolderBackend) -> None:
    Repository.init(backend, "alice", PASSPHRASE)
    path = backend.root / "users" / "alice" / "config"
    config = path.read_text().replace('"chunk_size":65536', '"chunk_size":65537')
    path.write_text(config)
    with pytest.raises(IntegrityError, match="MAC"):
        Repository.open(backend, "alice", PASSPHRASE)


def test_blobs_snapshots_and_head(backend: FolderBackend, tmp_path: Path) -> None:
    repo = Repository.init(backend, "alice", PASSPHRASE)
    src = tmp_path / "Wheel.stl"
    src.write_bytes(b"solid wheel\n" + os.urandom(200_000))
    blob = repo.file_id(src)
    st = src.stat()
    stored = repo.put_file(str(src), blob, st.st_size, st.st_mtime_ns)
    assert stored == crypto.ciphertext_size(st.st_size)
    assert repo.list_blobs() == {blob: stored}
    out = tmp_path / "out" / "Wheel.stl"
    repo.restore_blob(blob, out, mtime_ns=st.st_mtime_ns)
    assert out.read_bytes() == src.read_bytes() and out.stat().st_mtime_ns == st.st_mtime_ns
    snap = {"version": 1, "files": [{"rel": "Wheel.stl", "blob": blob}]}
    sid = repo.save_snapshot(snap)  # written as version 2: a manifest and its pages (blobs)
    loaded = repo.load_snapshot(sid)
    assert loaded["version"] == 2 and loaded["files"] == snap["files"] and repo.list_snapshots() == [sid]
    assert len(loaded["structure"]) == 1 and set(loaded["structure"]) < set(repo.list_blobs())
    assert repo.read_head() == (None, None)
    tag = repo.write_head(sid, 1, "dev", expect=None)
    head, tag2 = repo.read_head()
    assert head["snapshot"] == sid and head["seq"] == 1 and tag2 == tag
    with pytest.raises(Conflict):
        repo.write_head(sid, 2, "other", expect=None)


def test_one_users_key_cannot_read_anothers_data(backend: FolderBackend, tmp_path: Path) -> None:
    alice = Repository.init(backend, "alice", "alice's passphrase")
    bob = Repository.init(backend, "bob", "bob's passphrase")
    assert alice.keys.master != bob.keys.master
    with pytest.raises(WrongPassphrase):
        Repository.open(backend, "alice", "bob's passphrase")
    data = b"; generated by PrusaSlicer\n" * 1000
    blob, _ = alice.put_blob_bytes(data)
    # Bob (or the provider) copies Alice's object into Bob's prefix: Bob cannot read it.
    raw = backend.get_bytes(alice.blob_key(blob))
    backend.put_bytes(bob.blob_key(blob), raw)
    with pytest.raises(IntegrityError):
        bob.read_blob_bytes(blob)
    assert alice.read_blob_bytes(blob) == data
    # Bob's key files cannot open Alice's repository, even copied over
    for info in backend.list("users/bob/keys/"):
        backend.put_bytes("users/alice/keys/" + info.name.rsplit("/", 1)[1], backend.get_bytes(info.name))
    with pytest.raises(WrongPassphrase):
        Repository.open(backend, "alice", "bob's passphrase")
    # deleting Alice leaves Bob alone
    assert delete_user_objects(backend, "alice") >= 4
    assert Repository.users(backend) == ["bob"]
    assert Repository.open(backend, "bob", "bob's passphrase").keys.master == bob.keys.master
