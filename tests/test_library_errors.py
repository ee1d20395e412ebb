"""A library that cannot be used says why in one line, from the API and the CLI:
a path that is a file, an unwritable folder, a corrupt or locked database, a full
disk. And the library's files are private (0600 in a 0700 folder).

Permission tests run the real CLI without the power to bypass file permissions:
as a normal user that is just the user; as root, ``setpriv`` drops
CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (util-linux, on every Debian).
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from printmanager_core import Library
from printmanager_core.errors import (
    LibraryBusy,
    LibraryDamaged,
    LibraryNotWritable,
    NotALibrary,
    PrintManagerError,
)
from process_support import check_consistent, make_models, pm_cmd

UNPRIVILEGED = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
)


def pm(library: Path | None, *args: str, env: dict[str, str] | None = None, unprivileged: bool = False,
       preexec=None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    cmd = pm_cmd(library, *args) if library is not None else [sys.executable, "-m", "printmanager_core", *args]
    if unprivileged:
        cmd = UNPRIVILEGED + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
                          preexec_fn=preexec)


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "unexpected internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_path_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    with pytest.raises(NotALibrary, match="is a file, not a library folder"):
        Library(f)
    line = one_error_line(pm(None, "ls", env={"PRINTMANAGER_LIBRARY": str(f)}))
    assert line == f"Error: {f} is a file, not a library folder"
    line = one_error_line(pm(f / "lib", "ls"))
    assert line == f"Error: cannot create the library folder {f / 'lib'}: a parent of it is a file"
    assert f.read_text() == "mine"


def test_an_unwritable_folder(tmp_path: Path, corpus: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        line = one_error_line(pm(locked, "ls", unprivileged=True))
        assert line == f"Error: cannot write in the library folder {locked} (permission denied)"
        line = one_error_line(pm(locked / "lib", "scan", str(corpus / "sliced"), unprivileged=True))
        assert line == f"Error: cannot create the library folder: {locked / 'lib'}: permission denied"
        # the same through the API, in a process without the power to bypass permissions
        code = (
            "import sys\nfrom printmanager_core import Library\n"
            "from printmanager_core.errors import LibraryNotWritable\n"
            "try:\n    Library(sys.argv[1])\nexcept LibraryNotWritable as e:\n    print(e)\n"
        )
        api = subprocess.run([*UNPRIVILEGED, sys.executable, "-c", code, str(locked)], capture_output=True,
                             text=True, timeout=60)
        assert api.stdout.strip() == f"cannot write in the library folder {locked} (permission denied)", api.stderr
    finally:
        os.chmod(locked, 0o700)
    assert list(locked.iterdir()) == []


def test_a_corrupt_database(tmp_path: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    db = lib_dir / "printmanager.db"
    db.write_bytes(b"this is not sqlite at all\n" * 100)
    with pytest.raises(LibraryDamaged, match="damaged or not a printmanager database"):
        Library(lib_dir)
    for args in (["ls"], ["scan", str(corpus / "sliced")], ["settings"], ["tag", "1", "x"]):
        line = one_error_line(pm(lib_dir, *args))
        assert line == (
            f"Error: the library database {db} is damaged or not a printmanager database (file is not a "
            "database); move it away (a new one is made on the next scan) or restore a backup"
        ), args
    assert db.read_bytes() == b"this is not sqlite at all\n" * 100  # never overwritten


def test_a_database_damaged_inside(tmp_path: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    data = tmp_path / "prints"
    make_models(data, 300, archives=0)
    with Library(lib_dir) as lib:
        lib.scan([data], workers=1, thumbnails=False)
    db = lib_dir / "printmanager.db"
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    for offset in range(page, len(raw), page):  # every page but the first (the schema) is noise
        raw[offset : offset + page] = os.urandom(page)
    db.write_bytes(bytes(raw))
    with pytest.raises(LibraryDamaged):
        with Library(lib_dir) as lib:
            lib.files()
    line = one_error_line(pm(lib_dir, "ls"))
    assert line.startswith(f"Error: the library database {db} is damaged or not a printmanager database (")
    assert "move it away" in line


def test_the_database_path_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "lib" / "printmanager.db").mkdir(parents=True)
    line = one_error_line(pm(tmp_path / "lib", "ls"))
    assert line == f"Error: {tmp_path / 'lib' / 'printmanager.db'} is a folder, not a printmanager database"


def test_a_database_locked_past_the_busy_timeout(tmp_path: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        lib.scan([corpus / "sliced"], thumbnails=False)
    # another program holds SQLite's write lock (a real second process)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('begin immediate')\nprint('locked', flush=True)\nsys.stdin.read()\n",
         str(lib_dir / "printmanager.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        env = {"PRINTMANAGER_BUSY_TIMEOUT": "0.5"}
        line = one_error_line(pm(lib_dir, "tag", "1", "x", env=env), code=75)
        assert line == (
            f"Error: the library database {lib_dir / 'printmanager.db'} is busy: another printmanager process "
            "kept it locked past the busy timeout; try again when it is done"
        )
        # readers are not held up by a writer
        ls = pm(lib_dir, "ls", "--json", env=env)
        assert ls.returncode == 0, ls.stderr
        os.environ["PRINTMANAGER_BUSY_TIMEOUT"] = "0.3"
        try:
            with Library(lib_dir) as lib:
                with pytest.raises(LibraryBusy, match="is busy"):
                    lib.tag(1, "x")
                assert lib.file(1).tags == ()
        finally:
            del os.environ["PRINTMANAGER_BUSY_TIMEOUT"]
    finally:
        holder.communicate("", timeout=30)
    assert pm(lib_dir, "tag", "1", "x").returncode == 0
    bad = one_error_line(pm(lib_dir, "ls", env={"PRINTMANAGER_BUSY_TIMEOUT": "soon"}))
    assert bad == "Error: PRINTMANAGER_BUSY_TIMEOUT must be a number of seconds, not 'soon'"


def _file_limit(size: int):  # type: ignore[no-untyped-def]
    def limit() -> None:
        # the disk "fills up" at ``size`` bytes a file for this process: writes past it fail (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_full_disk_during_a_scan(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "prints"
    make_models(data, 2000, archives=0)
    lib_dir = tmp_path / "lib"
    assert pm(lib_dir, "scan", str(corpus / "sliced"), "--no-thumbnails").returncode == 0
    limit = (lib_dir / "printmanager.db").stat().st_size + 200 * 1024
    full = pm(lib_dir, "scan", str(data), "--no-thumbnails", "--workers", "2", preexec=_file_limit(limit))
    line = one_error_line(full)
    assert line.startswith(f"Error: disk I/O error on the library database {lib_dir / 'printmanager.db'}") or \
        line.startswith("Error: no space left on the disk for the library database"), line
    check_consistent(lib_dir)  # what was committed is whole
    again = pm(lib_dir, "scan", str(data), "--no-thumbnails")
    assert again.returncode == 0, again.stderr
    check_consistent(lib_dir)


def test_a_root_folder_that_vanished(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "prints"
    make_models(data, 5, archives=0)
    lib_dir = tmp_path / "lib"
    assert pm(lib_dir, "scan", str(data), "--no-thumbnails").returncode == 0
    os.rename(data, tmp_path / "elsewhere")
    rescan = pm(lib_dir, "scan", "--no-thumbnails")
    assert "Traceback" not in rescan.stderr and "unexpected internal error" not in rescan.stderr
    assert str(data) in rescan.stderr
    assert rescan.returncode in (0, 1)


# -- permissions -------------------------------------------------------------------


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_library_is_private_whatever_the_umask(tmp_path: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "deep" / "lib"
    code = (
        "import os, sys\nos.umask(0)\nfrom printmanager_core import Library\n"
        "lib = Library(sys.argv[1])\nlib.scan([sys.argv[2]], thumbnails=False)\n"
        "d = lib.db_path\nprint(oct(os.stat(str(d) + '-wal').st_mode & 0o777), oct(os.stat(str(d) + '-shm').st_mode & 0o777))\n"
        "lib.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(lib_dir), str(corpus / "sliced")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0o600", "0o600"]  # -wal and -shm while the library is open
    assert _mode(lib_dir) == 0o700
    assert _mode(lib_dir / "printmanager.db") == 0o600
    assert _mode(lib_dir / "printmanager.lock") == 0o600
    # the CLI too, under umask 0
    cli_lib = tmp_path / "cli-lib"
    res = pm(cli_lib, "scan", str(corpus / "sliced"), "--no-thumbnails", preexec=lambda: os.umask(0))
    assert res.returncode == 0, res.stderr
    assert _mode(cli_lib) == 0o700
    assert {p.name: _mode(p) for p in cli_lib.iterdir() if p.is_file()} == {
        "printmanager.db": 0o600, "printmanager.lock": 0o600,
    }


def test_a_loose_library_is_tightened_on_open(tmp_path: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        lib.scan([corpus / "sliced"], thumbnails=False)
    os.chmod(lib_dir, 0o755)
    os.chmod(lib_dir / "printmanager.db", 0o644)
    os.chmod(lib_dir / "printmanager.lock", 0o666)
    res = pm(lib_dir, "ls")
    assert res.returncode == 0, res.stderr
    assert _mode(lib_dir) == 0o700
    assert _mode(lib_dir / "printmanager.db") == 0o600
    assert _mode(lib_dir / "printmanager.lock") == 0o666  # tightened by the next writer
    assert pm(lib_dir, "scan", "--no-thumbnails").returncode == 0
    assert _mode(lib_dir / "printmanager.lock") == 0o600


def test_a_shared_folder_keeps_its_mode_but_the_database_is_private(tmp_path: Path, corpus: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "README.txt").write_text("other things live here")
    os.chmod(shared, 0o755)
    res = pm(shared, "scan", str(corpus / "sliced"), "--no-thumbnails")
    assert res.returncode == 0, res.stderr
    assert _mode(shared) == 0o755  # not printmanager's folder to close
    assert _mode(shared / "printmanager.db") == 0o600


def test_errors_are_printmanager_errors() -> None:
    for cls in (LibraryBusy, LibraryDamaged, LibraryNotWritable, NotALibrary):
        assert issubclass(cls, PrintManagerError)
    assert LibraryBusy("x").exit_code == 75 and LibraryDamaged("x").exit_code == 1


def test_open_of_a_library_while_another_process_creates_it(tmp_path: Path) -> None:
    """Many processes opening one new library at once: one creates it, none fails."""
    lib_dir = tmp_path / "lib"
    procs = [subprocess.Popen(pm_cmd(lib_dir, "settings", "--json"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0] * 6, [r[1] for r in results]
    con = sqlite3.connect(lib_dir / "printmanager.db")
    names = [r[0] for r in con.execute("select name from _sqlite_migrations order by rowid")]
    con.close()
    assert len(names) == len(set(names))
