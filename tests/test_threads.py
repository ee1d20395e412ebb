"""One ``Library`` used from several real threads and from ``asyncio.to_thread``.

Before: any use from a second thread raised ``sqlite3.ProgrammingError: SQLite
objects created in a thread can only be used in that same thread``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from printmanager_core import Library
from printmanager_core.errors import LibraryBusy, LibraryClosed
from process_support import check_consistent, make_models


@pytest.fixture
def scanned(tmp_path: Path, corpus: Path) -> Library:
    data = tmp_path / "prints"
    make_models(data, 200, archives=1)
    lib = Library(tmp_path / "lib")
    lib.scan([data], workers=1, thumbnails=False)
    yield lib
    lib.close()


def _open_db_fds(lib: Library) -> int:
    """How many descriptors this process has open on the library database file."""
    target = os.path.realpath(lib.db_path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:
            pass
    return count


def test_readers_hammer_while_a_thread_writes_tags(scanned: Library) -> None:
    lib = scanned
    files = lib.files()
    ids = [f.id for f in files[:40]]
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0] * 6
    start = threading.Barrier(7)

    def reader(k: int) -> None:
        try:
            start.wait()
            while not stop.is_set():
                every = lib.files()
                assert len(every) == len(files)
                for rec in lib.files("tag:hot"):
                    # a reader sees a whole write: the tag and the tags column agree
                    assert "hot" in rec.tags
                one = lib.file(ids[reads[k] % len(ids)])
                assert one.id in ids
                lib.models("format:stl")
                lib.tags()
                reads[k] += 1
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            start.wait()
            for round_ in range(15):
                for i in ids:
                    lib.tag(i, "hot", f"r{round_}")
                for i in ids:
                    lib.untag(i, f"r{round_}")
                lib.set_file_notes(ids[round_], f"note {round_}")
                lib.settings.set("thumbnails.size", 128 + round_)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(6)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert all(r > 0 for r in reads), reads
    hot = {f.id for f in lib.files("tag:hot")}
    assert hot == set(ids)
    assert all(lib.file(i).tags == ("hot",) for i in ids)
    assert lib.file(ids[14]).notes == "note 14"
    assert lib.settings.get("thumbnails.size") == 142
    check_consistent(lib.directory)


def test_asyncio_to_thread(scanned: Library) -> None:
    lib = scanned

    async def main() -> tuple[list, list, list]:
        queries = ["format:stl", "format:3mf", "", "tag:none", "format:gcode"]
        found = await asyncio.gather(*(asyncio.to_thread(lib.files, q) for q in queries * 4))
        models = await asyncio.gather(*(asyncio.to_thread(lib.models) for _ in range(8)))
        first = found[0][0]
        tagged = await asyncio.gather(*(asyncio.to_thread(lib.tag, first.id, f"a{i}") for i in range(10)))
        return found, models, tagged

    found, models, tagged = asyncio.run(main())
    assert [len(f) for f in found[:5]] * 4 == [len(f) for f in found]
    assert len(found[0]) >= 200 and len(found[2]) == len(lib.files())
    assert all(len(m) == len(models[0]) for m in models) and models[0]
    assert set(lib.file(found[0][0].id).tags) == {f"a{i}" for i in range(10)}


def test_scan_in_a_thread_while_others_read(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "prints"
    make_models(data, 400, archives=1)
    counts: list[int] = []
    errors: list[BaseException] = []
    with Library(tmp_path / "lib") as lib:
        t = threading.Thread(target=lambda: lib.scan([data], workers=2, thumbnails=False))
        t.start()
        while t.is_alive():
            try:
                counts.append(len(asyncio.run(asyncio.to_thread(lib.files))))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                break
        t.join()
        assert errors == []
        assert counts == sorted(counts)
        assert len(lib.files()) == len(list(data.rglob("*.stl"))) + 5 + len(list(data.rglob("*.3mf"))) + len(
            [p for p in (data / "sliced").iterdir() if p.is_file()]
        )
    check_consistent(tmp_path / "lib")


def test_two_threads_scanning_one_library_take_turns(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "prints"
    make_models(data, 300, archives=0)
    waited: list[str] = []
    with Library(tmp_path / "lib", on_lock_wait=lambda h: waited.append(h.describe())) as lib:
        reports: list = []
        errors: list[BaseException] = []

        def scan() -> None:
            try:
                reports.append(lib.scan([data], workers=1, thumbnails=False))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        with lib.write_lock("scan"):  # hold it so both threads must wait
            threads = [threading.Thread(target=scan) for _ in range(2)]
            for t in threads:
                t.start()
            time.sleep(0.3)
            assert reports == []
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert sorted(r.added for r in reports) == [0, reports[0].added + reports[1].added]
        assert waited and all(w == f"another scan of this library is running (pid {os.getpid()})" for w in waited)
        # a Library with no wait refuses at once from another thread too
        lib.lock_timeout = 0
        with lib.write_lock("scan"):
            out: list[BaseException] = []
            t = threading.Thread(target=lambda: out.append(_catch(lambda: lib.scan(thumbnails=False))))
            t.start()
            t.join()
            assert isinstance(out[0], LibraryBusy)
    check_consistent(tmp_path / "lib")


def _catch(fn):  # type: ignore[no-untyped-def]
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    return None


def test_close_closes_every_threads_connection(scanned: Library) -> None:
    lib = scanned
    ready = threading.Barrier(9)
    done = threading.Event()

    def use() -> None:
        lib.files(limit=5)
        ready.wait()
        done.wait()

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    ready.wait()
    assert _open_db_fds(lib) >= 9  # the main thread's connection and one per thread
    lib.close()
    done.set()
    for t in threads:
        t.join()
    assert _open_db_fds(lib) == 0
    with pytest.raises(LibraryClosed, match="closed"):
        lib.files()
    errors: list[BaseException | None] = []
    t = threading.Thread(target=lambda: errors.append(_catch(lib.files)))
    t.start()
    t.join()
    assert isinstance(errors[0], LibraryClosed)
    lib.close()  # twice is fine


def test_short_lived_threads_do_not_leak_connections(scanned: Library) -> None:
    lib = scanned
    fds = []
    for _ in range(3):
        for _ in range(200):
            t = threading.Thread(target=lambda: lib.files(limit=1))
            t.start()
            t.join()
        gc.collect()
        # the main thread's connection is the only one left open
        assert lib.store.db.open_connections == 1
        fds.append(_open_db_fds(lib))
    # SQLite keeps a closed connection's descriptor for reuse while others hold
    # locks on the file; the number stays bounded, it does not grow per thread
    assert max(fds) < 100 and fds[2] - fds[0] <= 5, fds


def test_a_library_survives_a_copy_of_its_folder(tmp_path: Path, corpus: Path) -> None:
    """Connections are opened on the library's own file: a copy is a separate library."""
    data = tmp_path / "prints"
    make_models(data, 20, archives=0)
    with Library(tmp_path / "a") as a:
        a.scan([data], thumbnails=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with Library(tmp_path / "a") as a, Library(tmp_path / "b") as b:
        f = a.files()[0]
        t = threading.Thread(target=lambda: a.tag(f.id, "only-a"))
        t.start()
        t.join()
        assert a.file(f.id).tags == ("only-a",)
        assert b.file(f.id).tags == ()
