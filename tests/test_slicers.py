"""Finding slicers the way each system installs them, opening files, slicing with the real PrusaSlicer."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from cli_support import run
from printmanager_core import Library
from printmanager_core.errors import NotFound, UsageError
from printmanager_core.printing.slicers import SLICERS, find_slicer, slice_target

PRUSA = shutil.which("prusa-slicer")
needs_prusa = pytest.mark.skipif(PRUSA is None and not os.environ.get("CI"),
                                 reason="Debian's prusa-slicer is not installed (.ci/run installs it)")

PROFILE = """\
printer_model = MK3S
printer_settings_id = Original Prusa i3 MK3S
layer_height = 0.2
filament_type = PLA
filament_density = 1.24
filament_diameter = 1.75
nozzle_diameter = 0.4
bed_shape = 0x0,250x0,250x210,0x210
"""


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_found_on_path(tmp_path: Path) -> None:
    binary = _executable(tmp_path / "bin" / "orca-slicer")
    assert find_slicer("orca", system="Linux", env={"PATH": str(binary.parent)}, home=tmp_path) == [str(binary)]


def test_found_as_an_appimage_on_linux(tmp_path: Path) -> None:
    _executable(tmp_path / "Applications" / "OrcaSlicer_Linux_V2.0.0.AppImage")
    newest = _executable(tmp_path / "Applications" / "OrcaSlicer_Linux_V2.1.0.AppImage")
    assert find_slicer("orca", system="Linux", env={"PATH": ""}, home=tmp_path) == [str(newest)]
    cura = _executable(tmp_path / "Downloads" / "UltiMaker-Cura-5.7.0-linux-X64.AppImage")
    assert find_slicer("cura", system="Linux", env={"PATH": ""}, home=tmp_path) == [str(cura)]


def test_found_as_a_flatpak_on_linux(tmp_path: Path) -> None:
    flatpak = _executable(tmp_path / "bin" / "flatpak")
    (tmp_path / ".local/share/flatpak/app/com.bambulab.BambuStudio").mkdir(parents=True)
    assert find_slicer("bambu", system="Linux", env={"PATH": str(flatpak.parent)}, home=tmp_path) == [
        str(flatpak), "run", "com.bambulab.BambuStudio"]


def test_found_in_applications_on_macos(tmp_path: Path) -> None:
    system_root = tmp_path / "root"
    app = _executable(system_root / "Applications/PrusaSlicer.app/Contents/MacOS/PrusaSlicer")
    assert find_slicer("prusaslicer", system="Darwin", env={"PATH": ""}, home=tmp_path,
                       roots=[system_root]) == [str(app)]
    mine = _executable(tmp_path / "Applications/UltiMaker Cura.app/Contents/MacOS/UltiMaker-Cura")
    assert find_slicer("cura", system="Darwin", env={"PATH": ""}, home=tmp_path, roots=[system_root]) == [str(mine)]


def test_found_in_program_files_on_windows(tmp_path: Path) -> None:
    program_files = tmp_path / "Program Files"
    exe = _executable(program_files / "Prusa3D/PrusaSlicer/prusa-slicer.exe")
    env = {"PATH": "", "ProgramFiles": str(program_files)}
    assert find_slicer("prusaslicer", system="Windows", env=env, home=tmp_path) == [str(exe)]
    _executable(program_files / "UltiMaker Cura 5.6.0/UltiMaker-Cura.exe")
    newest = _executable(program_files / "UltiMaker Cura 5.7.1/UltiMaker-Cura.exe")
    assert find_slicer("cura", system="Windows", env=env, home=tmp_path) == [str(newest)]
    local = tmp_path / "AppData/Local"
    orca = _executable(local / "Programs/OrcaSlicer/orca-slicer.exe")
    assert find_slicer("orca", system="Windows", env={"PATH": "", "LOCALAPPDATA": str(local)}, home=tmp_path) == [
        str(orca)]


@pytest.mark.parametrize("name", sorted(SLICERS))
def test_not_installed_is_one_clear_line(tmp_path: Path, name: str) -> None:
    for system in ("Linux", "Darwin", "Windows"):
        with pytest.raises(NotFound) as info:
            find_slicer(name, system=system, env={"PATH": str(tmp_path)}, home=tmp_path, roots=[tmp_path])
        message = str(info.value)
        assert "\n" not in message and f"{SLICERS[name].title} is not installed here" in message
    with pytest.raises(UsageError, match="unknown slicer"):
        find_slicer("slic3r-nonexistent")


def test_open_cli_says_when_no_slicer_is_installed(library: Library, corpus: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    library.scan([corpus / "prusaslicer-shapes"], workers=1)
    directory = library.directory
    library.close()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, err = run(capsys, directory, "open", "1", "--slicer", "orca")
    assert code != 0 and out == ""
    assert err.startswith("Error: OrcaSlicer is not installed here") and err.count("\n") == 1


@needs_prusa
def test_open_starts_the_installed_prusaslicer_with_the_files(library: Library, corpus: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(corpus / "prusaslicer-shapes", tmp_path / "root" / "Shapes")
    library.scan([tmp_path / "root"], workers=1)
    torus = library.files("name:torus.stl")[0]
    directory = library.directory
    library.close()
    code, out, err = run(capsys, directory, "open", str(torus.id), "--slicer", "prusaslicer", "--json")
    assert code == 0, err
    started = json.loads(out)
    assert started["argv"] == [PRUSA, torus.path]
    # the real process was started with exactly those arguments (it may quit at once with no display)
    try:
        cmdline = Path(f"/proc/{started['pid']}/cmdline").read_bytes().split(b"\0")[:-1]
        assert [os.fsdecode(a) for a in cmdline][1:] == [torus.path]
    except FileNotFoundError:
        pass  # it had already quit
    finally:
        try:
            os.kill(started["pid"], 15)
        except ProcessLookupError:
            pass
    # a model opens its mesh files
    code, out, err = run(capsys, directory, "open", str(torus.model_id), "--model", "--slicer", "prusaslicer",
                         "--json")
    started = json.loads(out)
    assert len(started["argv"]) == 1 + 5  # the five shapes
    try:
        os.kill(started["pid"], 15)
    except ProcessLookupError:
        pass


@needs_prusa
def test_slice_with_real_prusaslicer_catalogues_and_links(library: Library, corpus: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "Prints" / "Torus"
    models.mkdir(parents=True)
    shutil.copy(corpus / "prusaslicer-shapes" / "torus.stl", models / "torus.stl")
    profile = tmp_path / "MK3S-PLA.ini"
    profile.write_text(PROFILE)
    library.scan([tmp_path / "Prints"], workers=1)
    torus = library.files("name:torus.stl")[0]
    started = time.monotonic()
    gcode, sources = slice_target(library, torus.id, "prusaslicer", profile)
    assert time.monotonic() - started < 120
    assert Path(gcode.path) == models / "torus.gcode" and gcode.format == "gcode"
    assert gcode.slicer.printer_model == "MK3S" and gcode.slicer.slicer.startswith("PrusaSlicer")
    assert gcode.slicer.print_time_s and gcode.slicer.print_time_s > 60
    assert gcode.slicer.filament_g and 0.5 < gcode.slicer.filament_g < 10
    assert gcode.slicer.layer_height_mm == 0.2
    assert [s.id for s in sources] == [torus.id]
    assert [(f.id, how) for f, how in library.sliced_from(gcode.id)] == [(torus.id, "slice")]
    assert {f.name for f in library.files("sliced-from:torus")} == {"torus.gcode"}
    # the CLI, into a folder of the user's choice outside every root (it becomes one)
    directory = library.directory
    library.close()
    out_dir = tmp_path / "gcode out"
    code, out, err = run(capsys, directory, "slice", str(torus.id), "--slicer", "prusaslicer", "--config",
                         str(profile), "--out", str(out_dir), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["gcode"]["path"] == str(out_dir / "torus.gcode")
    assert data["gcode"]["slicer"]["printer_model"] == "MK3S" and data["sliced_from"][0]["id"] == torus.id
    code, out, err = run(capsys, directory, "slice", str(torus.id), "--config", str(profile), "--out", str(out_dir))
    assert code == 0 and "MK3S" in out and " g)" in out
    # a bad profile is one line
    code, out, err = run(capsys, directory, "slice", str(torus.id), "--config", str(tmp_path / "nope.ini"))
    assert code != 0 and err.count("\n") == 1 and "no profile" in err
    # a G-code is not sliced again
    code, out, err = run(capsys, directory, "slice", str(data["gcode"]["id"]))
    assert code != 0 and "is a sliced file already" in err
