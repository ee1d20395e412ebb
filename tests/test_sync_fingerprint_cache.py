"""The no-change sync's shortcuts (issue 11, "No-change sync of a 100,000-file library"): the
catalogue fingerprint kept under m047's count of row changes is the one reading every row gives,
after every kind of edit and whoever made it; the local digest's packed form; the root guard's
fast path."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from sync_support import make_prints, scanned_library

from printmanager_sync import enable, sync_now
from printmanager_sync.catalogue import FINGERPRINT_CACHE, Catalogue, RootGuard
from printmanager_sync.local import _digest, entry_rows
from printmanager_sync.snapshot import Entry
from printmanager_sync.state import SyncState


def _survey(cat: Catalogue, state: SyncState, keys: dict[str, str]) -> tuple[str, bool]:
    """The cached survey checked against reading every row: ``(fingerprint, whether it was a hit)``."""
    files_c, meta_c, fp_c = cat.survey_cached(keys, state)
    files, meta, fp = cat.survey(keys)
    assert fp_c == fp
    assert files_c == files
    assert cat.user_meta(keys) == meta
    if meta_c is not None:
        assert meta_c == meta
    return fp, meta_c is None


def _sqlite_elsewhere(db: Path, sql: str) -> None:
    """Run ``sql`` on the library database from another process, with Python's sqlite3 module alone."""
    code = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit(); c.close()"
    subprocess.run([sys.executable, "-c", code, str(db), sql], check=True)


def test_the_kept_fingerprint_is_the_one_every_row_gives_after_every_kind_of_edit(tmp_path: Path, corpus: Path) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "lib", [prints])
    db_path = Path(lib.store.db.conn.execute("pragma database_list").fetchone()[2])
    state, cat = SyncState(lib), Catalogue(lib)
    keys = state.ensure_root_keys(lib.roots())
    fp, hit = _survey(cat, state, keys)
    assert not hit
    assert _survey(cat, state, keys) == (fp, True)
    stl = prints / "Spider" / "Spider_ascii.stl"
    model = lib.files(include_missing=True)[0].model_id
    models = [m.id for m in lib.models()]
    assert len(models) >= 2 and model is not None

    def rescan() -> None:
        lib.scan([prints], workers=1, thumbnails=False)

    other = tmp_path / "More"
    other.mkdir()
    shutil.copyfile(corpus / "assimp" / "spider.obj", other / "spider.obj")
    edits: list[tuple[str, Callable[[], Any]]] = [
        ("tag a file", lambda: lib.tag(str(stl), "spiders")),
        ("untag it", lambda: lib.untag(str(stl), "spiders")),
        ("file notes", lambda: lib.set_file_notes(str(stl), "print at 0.1 mm")),
        ("model field", lambda: lib.update_model(model, creator="someone")),
        ("model tag", lambda: lib.tag_model(model, "toys")),
        ("new collection", lambda: lib.create_collection("favourites", "the best")),
        ("collection member", lambda: lib.add_to_collection("favourites", *models[:2])),
        ("member removed", lambda: lib.remove_from_collection("favourites", models[0])),
        ("collection description", lambda: cat.store.set_collection_description(
            lib.create_collection("favourites"), "the very best")),
        ("collection deleted", lambda: lib.delete_collection("favourites")),
        ("file added", lambda: (shutil.copyfile(stl, prints / "Spider" / "copy.stl"), rescan())),
        ("file renamed", lambda: ((prints / "Spider" / "copy.stl").rename(prints / "Spider" / "renamed.stl"), rescan())),
        ("file deleted", lambda: ((prints / "Spider" / "renamed.stl").unlink(), rescan())),
        ("a fact changed by a rescan", lambda: (stl.write_bytes(stl.read_bytes() + b"\n"), rescan())),
        ("sqlite3 in another process", lambda: _sqlite_elsewhere(db_path, "update models set licence = 'CC0'")),
        ("file row by sqlite3", lambda: _sqlite_elsewhere(db_path, "update files set triangles = 7 where name = 'spider.obj'")),
        ("a root added", lambda: lib.scan([other], workers=1, thumbnails=False)),
    ]
    for what, edit in edits:
        edit()
        keys = state.ensure_root_keys(lib.roots())
        before = fp
        fp, hit = _survey(cat, state, keys)
        assert not hit, what  # the count moved: every row read again
        assert fp != before, what  # ... and the fingerprint saw the edit
        assert _survey(cat, state, keys) == (fp, True), what  # nothing changed since: kept
    # a table created and dropped (what sqlite-utils does to probe for upserts) leaves the rows as they were
    _sqlite_elsewhere(db_path, "create table probe (x)")
    _sqlite_elsewhere(db_path, "drop table probe")
    assert _survey(cat, state, keys) == (fp, True)
    # a column added (a later migration, or by hand), then written: the table's schema and the count move
    _sqlite_elsewhere(db_path, "alter table files add column colour text")
    assert _survey(cat, state, keys)[1] is False
    _sqlite_elsewhere(db_path, "update files set colour = 'red' where name = 'spider.obj'")
    before = fp
    fp, hit = _survey(cat, state, keys)
    assert not hit and fp != before
    # another root key map (the sync state's own, no catalogue row) is another stamp
    state.set("roots", {path: key + "x" for path, key in keys.items()})
    assert _survey(cat, state, state.root_keys())[1] is False
    # a write that changes nothing the fingerprint reads still only costs a recount, never a stale hit
    lib.store.db.conn.execute("update files set scanned_at = scanned_at")
    lib.store.db.conn.commit()
    assert _survey(cat, state, state.root_keys())[1] is False
    # without a trigger that keeps the count (a table rebuilt drops its triggers) nothing is kept
    _sqlite_elsewhere(db_path, "drop trigger collection_models_row_changes_ai")
    assert cat.stamp(state.root_keys()) is None
    assert _survey(cat, state, state.root_keys())[1] is False
    assert _survey(cat, state, state.root_keys())[1] is False
    lib.close()


def test_a_rolled_back_write_keeps_the_count_and_the_fingerprint(tmp_path: Path, corpus: Path) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "lib", [prints])
    state, cat = SyncState(lib), Catalogue(lib)
    keys = state.ensure_root_keys(lib.roots())
    fp, _ = _survey(cat, state, keys)
    before = cat.store.row_changes()
    conn = lib.store.db.conn
    conn.execute("begin")
    conn.execute("update models set creator = 'nobody'")
    conn.execute("rollback")
    assert cat.store.row_changes() == before
    assert _survey(cat, state, keys) == (fp, True)
    lib.close()


def test_the_kept_fingerprint_stays_out_of_a_database_backup(tmp_path: Path, corpus: Path, passphrase_env: str) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "lib", [prints])
    enable(lib, {"backend": "folder", "path": str(tmp_path / "container")}, consent_given=True)
    assert sync_now(lib).pushed
    assert SyncState(lib).get(FINGERPRINT_CACHE)
    Catalogue(lib).backup(tmp_path / "backup.db")
    with sqlite3.connect(tmp_path / "backup.db") as conn:
        keys = [k for (k,) in conn.execute("select key from sync_state")]
    conn.close()
    assert FINGERPRINT_CACHE not in keys and "roots" in keys
    lib.close()


def test_a_digest_stored_by_an_older_version_costs_one_full_sync(tmp_path: Path, corpus: Path, passphrase_env: str) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "lib", [prints])
    enable(lib, {"backend": "folder", "path": str(tmp_path / "container")}, consent_given=True)
    first = sync_now(lib)
    state = SyncState(lib)
    last = state.get("last")
    last["digest"] = "a0" * 32  # what the JSON form of before left: never a digest of this form
    state.set("last", last)
    again = sync_now(lib)
    assert again.files == first.files and state.get("last")["digest"] != "a0" * 32
    quiet = sync_now(lib)
    assert not quiet.pushed and quiet.snapshot == again.snapshot  # a folder container counts no requests
    lib.close()


def test_the_packed_digest_tells_every_field_apart() -> None:
    base = {"r1/a/b.stl": Entry("a/b.stl", 10, 1000, "f" * 64, "r1"), "r1/c.stl": Entry("c.stl", 5, 7, "e" * 64, "r1")}
    thumbs = {"t/1.png": Entry("t/1.png", 3, 4, "d" * 64)}
    roots = [("r1", "/prints")]

    def digest(entries: dict[str, Entry], thumbnails: dict[str, Entry], fingerprint: str, roots: Any) -> str:
        return _digest(entry_rows(entries), entry_rows(thumbnails), fingerprint, roots)

    one = digest(base, thumbs, "fp", roots)
    assert digest(dict(reversed(base.items())), thumbs, "fp", roots) == one  # order does not matter
    variants = [
        ({**base, "r1/c.stl": Entry("c.stl", 6, 7, "e" * 64, "r1")}, thumbs, "fp", roots),  # size
        ({**base, "r1/c.stl": Entry("c.stl", 5, 8, "e" * 64, "r1")}, thumbs, "fp", roots),  # mtime
        ({**base, "r1/c.stl": Entry("c.stl", 5, None, "e" * 64, "r1")}, thumbs, "fp", roots),
        ({**base, "r1/c.stl": Entry("c.stl", 5, 7, "c" * 64, "r1")}, thumbs, "fp", roots),  # object id
        ({"r1/a/b.stl": base["r1/a/b.stl"], "r1/d.stl": Entry("d.stl", 5, 7, "e" * 64, "r1")}, thumbs, "fp", roots),
        ({"r1/a/b.stl": base["r1/a/b.stl"]}, thumbs, "fp", roots),  # one fewer
        (base, {}, "fp", roots),  # a thumbnail fewer
        ({**base, "t/1.png": Entry("t/1.png", 3, 4, "d" * 64)}, {}, "fp", roots),  # moved between the parts
        (base, thumbs, "fp2", roots),  # the catalogue
        (base, thumbs, "fp", [("r1", "/other")]),  # the roots
        ({"r1/a/b.stl\x00": base["r1/a/b.stl"], "r1/c.stl": base["r1/c.stl"]}, thumbs, "fp", roots),
        ({**base, "r1/\udce9.stl": Entry("\udce9.stl", 1, 1, "b" * 64, "r1")}, thumbs, "fp", roots),  # an undecodable name
    ]
    digests = {digest(*v) for v in variants}
    assert len(digests) == len(variants) and one not in digests


def _stat_inside_general(path: str, folder: str) -> tuple[bool, os.stat_result | None]:
    """What ``RootGuard.stat_inside`` means, every path resolved in full."""
    real = os.path.realpath(path)
    inside = real.startswith(os.path.realpath(folder).rstrip(os.sep) + os.sep)
    try:
        st = os.stat(path) if inside else None
    except OSError:
        st = None
    return inside, st


def test_the_root_guard_fast_path_gives_what_resolving_every_path_gives(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "part.stl").write_bytes(b"solid")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_bytes(b"key")
    (root / "a" / "leak.stl").symlink_to(secret / "id_rsa")  # a file link out
    (root / "a" / "inner.stl").symlink_to(root / "a" / "b" / "part.stl")  # a file link within
    (root / "outside").symlink_to(secret)  # a folder link out
    (root / "within").symlink_to(root / "a")  # a folder link within
    linked_root = tmp_path / "linked"
    linked_root.symlink_to(root)  # the root itself reached through a link
    paths = [
        root / "a" / "b" / "part.stl", root / "a" / "leak.stl", root / "a" / "inner.stl", root / "outside" / "id_rsa",
        root / "within" / "b" / "part.stl", root / "a" / "gone.stl", root / "a" / "b", root / "a" / "..",
        root, tmp_path / "secret" / "id_rsa", linked_root / "a" / "b" / "part.stl", linked_root / "a" / "leak.stl",
    ]
    texts = [str(p) for p in paths] + [str(root / "a") + "//b/part.stl", str(root / "a" / "b") + "/", str(root) + "/."]
    for folder in (str(root), str(linked_root), str(root) + "/"):
        guard = RootGuard()
        for path in texts * 2:  # the second time from the guard's cache
            inside, st = guard.stat_inside(path, folder)
            want_inside, want_st = _stat_inside_general(path, folder)
            assert inside == want_inside, (path, folder)
            if inside:
                assert (st is None) == (want_st is None), (path, folder)
                if st is not None and want_st is not None:
                    assert (st.st_ino, st.st_size, st.st_mode) == (want_st.st_ino, want_st.st_size, want_st.st_mode)
    guard = RootGuard()
    assert guard.stat_inside(str(root / "a" / "leak.stl"), str(root))[0] is False
    assert guard.stat_inside(str(root / "outside" / "id_rsa"), str(root))[0] is False
    assert guard.stat_inside(str(root / "a" / "b" / "part.stl"), str(root))[0] is True
