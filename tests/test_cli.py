"""The command line, run as a user runs it: a real process, a real library, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FILE_KEYS = {
    "id", "path", "model", "format", "size_bytes", "hash", "triangles", "bbox_mm", "volume_mm3",
    "area_mm2", "watertight", "thumbnails", "slicer", "error",
}


def pm(*args: str, library: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "printmanager_core"]
    if library is not None:
        cmd += ["--library", str(library)]
    env = dict(os.environ)
    return subprocess.run(cmd + list(args), capture_output=True, text=True, input=input, env=env, timeout=300)


@pytest.fixture
def folder(tmp_path: Path, corpus: Path) -> Path:
    root = tmp_path / "prints"
    shutil.copytree(corpus / "Benchy multi-part", root / "Benchy")
    shutil.copytree(corpus / "sliced", root / "sliced")
    shutil.copyfile(corpus / "broken" / "empty.stl", root / "empty.stl")
    return root


def test_scan_ls_show_tag_roundtrip(tmp_path: Path, folder: Path) -> None:
    lib = tmp_path / "lib"
    scan = pm("scan", str(folder), "--json", library=lib)
    assert scan.returncode == 0, scan.stderr
    report = json.loads(scan.stdout)
    assert {"added", "updated", "moved", "missing", "unchanged", "errors", "seconds"} <= set(report)
    assert report["added"] == 12 and report["errors"] == 1

    ls = pm("ls", "--json", library=lib)
    assert ls.returncode == 0, ls.stderr
    files = json.loads(ls.stdout)
    assert len(files) == 12
    for f in files:
        assert FILE_KEYS <= set(f), FILE_KEYS - set(f)
        assert os.path.isabs(f["path"])
    by_name = {Path(f["path"]).name: f for f in files}
    wheel = by_name["Wheel.stl"]
    assert isinstance(wheel["triangles"], int) and isinstance(wheel["volume_mm3"], float)
    assert len(wheel["bbox_mm"]) == 3 and wheel["watertight"] in (True, False)
    assert wheel["error"] is None and wheel["model"] == "Benchy"
    gcode = by_name["mini_cube_a.gcode"]
    assert gcode["thumbnails"] >= 1
    assert gcode["slicer"]["slicer"].startswith("PrusaSlicer")
    assert isinstance(gcode["slicer"]["print_time_s"], (int, float))
    assert by_name["empty.stl"]["error"]
    assert by_name["empty.stl"]["triangles"] is None

    tag = pm("tag", str(wheel["id"]), "boat", "calibration", library=lib)
    assert tag.returncode == 0, tag.stderr
    tagged = json.loads(pm("ls", "tag:boat", "--json", library=lib).stdout)
    assert [f["id"] for f in tagged] == [wheel["id"]]
    assert pm("untag", str(wheel["id"]), "boat", library=lib).returncode == 0
    assert json.loads(pm("ls", "tag:boat", "--json", library=lib).stdout) == []

    show = pm("show", wheel["path"], "--json", library=lib)
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["tags"] == ["calibration"]

    models = json.loads(pm("models", "--json", library=lib).stdout)
    assert {m["name"] for m in models} >= {"Benchy", "sliced"}

    query = json.loads(pm("ls", "format:stl", "triangles>1000", "--json", library=lib).stdout)
    assert query and all(f["format"] == "stl" and f["triangles"] > 1000 for f in query)

    dupes = pm("duplicates", "--json", library=lib)
    assert dupes.returncode == 0 and json.loads(dupes.stdout) == []

    rescan = json.loads(pm("scan", "--json", library=lib).stdout)
    assert rescan["unchanged"] == 12 and rescan["added"] == 0


def test_duplicates_lists_identical_content(tmp_path: Path, folder: Path) -> None:
    shutil.copyfile(folder / "Benchy" / "Wheel.stl", folder / "wheel-copy.stl")
    lib = tmp_path / "lib"
    assert pm("scan", str(folder), library=lib).returncode == 0
    groups = json.loads(pm("duplicates", "--json", library=lib).stdout)
    assert len(groups) == 1
    assert sorted(Path(f["path"]).name for f in groups[0]["files"]) == ["Wheel.stl", "wheel-copy.stl"]
    assert groups[0]["hash"].startswith("sha256:")


def test_plugins_json_lists_builtin_plugins() -> None:
    out = pm("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert "register_readers" in rows["printmanager_core.readers.stl"]["hooks"]
    assert rows["printmanager_core.readers.stl"]["version"]


def test_plugins_lists_what_each_plugin_registers() -> None:
    """Settings, migration sets (with their steps), readers and backends, by the plugin that gave them."""
    out = pm("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["printmanager_core.readers.stl"]["registers"] == {"readers": ["stl"]}
    thumbnails = rows["thumbnails"]["registers"]
    assert thumbnails["settings"] == ["thumbnails.on_scan", "thumbnails.size"]
    assert thumbnails["migrations"] == ["thumbnails (m001_thumbnail_slot)"]
    assert rows["sync"]["registers"]["sync_backends"] == ["folder", "s3"]
    text = pm("plugins").stdout
    assert "    migrations: sync (m001_sync_tables)" in text
    assert "    settings: thumbnails.on_scan, thumbnails.size" in text


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["show", "999"], "no file or model 999"),
        (["tag", "999", "x"], "no file 999"),
        (["ls", 'name:"unclosed'], ""),
        (["scan", "/definitely/not/here"], "does not exist"),
        (["nosuchcommand"], "No such command"),
        (["ls", "triangles>lots"], "triangles"),
    ],
)
def test_bad_usage_exits_non_zero_with_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = pm(*args, library=tmp_path / "lib")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip() and not ln.startswith(("Usage:", "Try "))]
    assert len(lines) == 1, out.stderr
    assert fragment in out.stderr


def test_library_location_precedence(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_lib = tmp_path / "from-env"
    monkeypatch.setenv("PRINTMANAGER_LIBRARY", str(env_lib))
    assert pm("scan", str(folder / "Benchy")).returncode == 0
    assert (env_lib / "printmanager.db").exists()
    flag_lib = tmp_path / "from-flag"
    assert pm("scan", str(folder / "Benchy"), library=flag_lib).returncode == 0
    assert (flag_lib / "printmanager.db").exists()
    monkeypatch.delenv("PRINTMANAGER_LIBRARY")
    from printmanager_core.paths import resolve_library_dir

    assert resolve_library_dir() == (Path(os.environ["XDG_DATA_HOME"]) / "printmanager").resolve()


def test_python_dash_m_and_console_script_agree() -> None:
    exe = Path(sys.executable).parent / "printmanager"
    a = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    b = pm("--help")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout
