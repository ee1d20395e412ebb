"""Hostile input at the scale of a scan: each bad file gets a clear error, the scan goes on,
memory stays bounded, and Ctrl-C on a real process leaves the catalogue consistent."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

from printmanager_core import Library

CUBE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "uranium" / "simpleTestCubeBinary.stl"


def _threemf(model_xml: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>')
        zf.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')
        zf.writestr("3D/3dmodel.model", model_xml)
    return buf.getvalue()


def hostile_folder(root: Path, corpus: Path) -> dict[str, str]:
    """Write one of each hostile file; returns name -> a word its error must contain."""
    root.mkdir(parents=True)
    expect: dict[str, str] = {}
    # zip bomb: 1 GiB of zeros compressed into a zip model
    with zipfile.ZipFile(root / "bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("bomb/huge.stl", "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(1024):
                fh.write(block)
    expect["huge.stl"] = "compress"
    # XML entity bomb inside a 3MF
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    ) + b']><model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><metadata name="Title">&lol9;</metadata><resources/><build/></model>'
    (root / "laughs.3mf").write_bytes(_threemf(laughs))
    expect["laughs.3mf"] = "entit"
    # path traversal in a zip model
    with zipfile.ZipFile(root / "traversal.zip", "w") as zf:
        zf.writestr("../../outside.stl", CUBE.read_bytes())
    expect["traversal.zip"] = "traversal"
    # a binary STL header claiming 10^9 triangles
    (root / "billion.stl").write_bytes(b"\0" * 80 + struct.pack("<I", 10**9) + b"\0" * 50 * 3)
    expect["billion.stl"] = "1000000000"
    # truncated binary STL
    (root / "truncated.stl").write_bytes(CUBE.read_bytes()[:300])
    expect["truncated.stl"] = ""
    # empty files of every format
    for ext in ("stl", "obj", "ply", "3mf", "gcode", "bgcode"):
        (root / f"empty.{ext}").write_bytes(b"")
        expect[f"empty.{ext}"] = ""
    # random bytes named as meshes
    rnd = os.urandom(4096)
    for ext in ("stl", "ply", "3mf", "bgcode"):
        (root / f"noise.{ext}").write_bytes(rnd)
        expect[f"noise.{ext}"] = ""
    # a good file beside them all
    (root / "good.stl").write_bytes(CUBE.read_bytes())
    return expect


def test_hostile_files_get_clear_errors_and_the_scan_goes_on(tmp_path: Path, corpus: Path) -> None:
    expect = hostile_folder(tmp_path / "hostile", corpus)
    with Library(tmp_path / "lib") as lib:
        # a file catalogued earlier must survive the hostile scan untouched
        lib.scan([tmp_path / "hostile"], workers=1)
        good = lib.file(tmp_path / "hostile" / "good.stl")
        lib.tag(good.id, "keep")
        tracemalloc.start()
        (tmp_path / "hostile" / "extra.stl").write_bytes(CUBE.read_bytes())
        report = lib.scan([tmp_path / "hostile"], workers=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert not report.interrupted and report.added == 1
        by_name = {f.name: f for f in lib.files()}
        for name, word in expect.items():
            f = by_name[name]
            assert f.error, f"{name}: no error recorded"
            assert "\n" not in f.error and len(f.error) < 300, f"{name}: error is not one clear line: {f.error!r}"
            assert word.lower() in f.error.lower(), f"{name}: {f.error!r} does not mention {word!r}"
        assert by_name["good.stl"].error is None and by_name["good.stl"].tags == ("keep",)
        assert by_name["extra.stl"].triangles == 12
    # the bomb member alone is 1 GiB uncompressed: a bounded scan stays far below that
    assert peak < 64 * 1024 * 1024, f"peak Python memory {peak / 1e6:.0f} MB"
    assert not (tmp_path / "outside.stl").exists()


def test_ctrl_c_on_a_real_scan_keeps_the_catalogue_consistent(tmp_path: Path) -> None:
    data = tmp_path / "many"
    cube = CUBE.read_bytes()
    for i in range(3000):
        folder = data / f"m{i // 20:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"p{i}.stl").write_bytes(f"p{i}".encode().ljust(80) + cube[80:])
    lib_dir = tmp_path / "lib"
    cmd = [sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "scan", str(data),
           "--workers", "2", "--no-thumbnails"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = lib_dir / "printmanager.db"
    deadline = time.monotonic() + 60
    # interrupt once the scan has committed some files but not all
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                con = sqlite3.connect(db, timeout=1)
                n = con.execute("select count(*) from files").fetchone()[0]
                con.close()
            except sqlite3.Error:
                n = 0
            if n > 0:
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    if proc.returncode == 0:
        # the scan finished before the signal landed; nothing to check about the interrupt
        assert '3000 added' in out
        return
    assert proc.returncode == 130, err
    con = sqlite3.connect(db)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    done = con.execute("select count(*) from files").fetchone()[0]
    assert 0 < done < 3000
    assert con.execute("select count(*) from files where missing = 1").fetchone()[0] == 0
    assert con.execute("select count(*) from files where hash is null").fetchone()[0] == 0
    con.close()
    # the next scan finishes the job and rereads nothing already catalogued
    with Library(lib_dir) as lib:
        report = lib.scan(workers=1, thumbnails=False)
        assert report.unchanged == done and report.added == 3000 - done
