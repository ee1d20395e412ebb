"""``roots``, ``roots rm`` and single-file ``scan FILE``, on real corpus files and a real library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_support import run
from printmanager_core import Library


@pytest.fixture
def prints(tmp_path: Path, corpus: Path) -> Path:
    root = tmp_path / "Prints"
    (root / "Benchy").mkdir(parents=True)
    for name in ("Wheel.stl", "Window.stl"):
        shutil.copyfile(corpus / "Benchy multi-part" / name, root / "Benchy" / name)
    (root / "Shapes").mkdir()
    shutil.copyfile(corpus / "prusaslicer-shapes" / "box.stl", root / "Shapes" / "box.stl")
    shutil.copyfile(corpus / "3mf-samples" / "box.3mf", root / "box.3mf")
    return root


def _present(lib_dir: Path) -> dict[str, int | None]:
    with Library(lib_dir) as lib:
        return {Path(f.path).name: f.triangles for f in lib.files()}


def test_roots_lists_and_rm_removes_everything_under_a_root(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           prints: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    other = tmp_path / "Other"
    other.mkdir()
    shutil.copyfile(corpus / "prusaslicer-shapes" / "torus.stl", other / "torus.stl")
    assert run(capsys, lib_dir, "scan", str(prints), str(other))[0] == 0
    with Library(lib_dir) as lib:
        wheel = next(f for f in lib.files() if f.name == "Wheel.stl")
        lib.tag(wheel.id, "printed")
        lib.set_file_notes(wheel.id, "needs supports")
        lib.add_to_collection("boats", wheel.model_id)
        lib.log_print(wheel.id, note="first")
        torus_model = next(f for f in lib.files() if f.name == "torus.stl").model_id
        lib.tag_model(torus_model, "keep")

    code, out, _ = run(capsys, lib_dir, "roots", "--json")
    assert code == 0
    listed = {r["path"]: r for r in json.loads(out)}
    assert listed[str(prints)]["files"] == 4 and listed[str(prints)]["models"] == 3
    assert listed[str(other)]["files"] == 1
    code, out, _ = run(capsys, lib_dir, "roots")
    assert code == 0 and "4 files\t3 models" in out and "1 file\t1 model" in out

    # no terminal and no --yes: the confirmation is refused, nothing changes
    code, _, err = run(capsys, lib_dir, "roots", "rm", str(prints))
    assert code == 1 and "Remove root" in err
    assert "Wheel.stl" in _present(lib_dir)

    code, out, _ = run(capsys, lib_dir, "roots", "rm", str(prints), "--yes", "--json")
    assert code == 0
    assert json.loads(out) == {"id": listed[str(prints)]["id"], "root": str(prints), "files": 4, "models": 3,
                               "prints": 1}
    assert set(_present(lib_dir)) == {"torus.stl"}
    with Library(lib_dir) as lib:
        assert [r for r in lib.roots()] == [str(other)]
        assert lib.tags() == {"keep": 1}  # the removed root's tags are gone, the other's stay
        assert list(lib.collection("boats").models) == []
    assert prints.joinpath("Benchy", "Wheel.stl").is_file()  # nothing on disk is touched

    # by id, and an unknown root in one line
    code, out, _ = run(capsys, lib_dir, "roots", "rm", str(listed[str(other)]["id"]), "-y")
    assert code == 0 and "Removed root" in out and "1 file, 1 model, 0 prints" in out
    code, _, err = run(capsys, lib_dir, "roots", "rm", str(prints))
    assert code != 0 and "is not a root of the library" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, lib_dir, "roots")
    assert code == 0 and "No roots yet" in out


def test_scan_one_file_reads_only_that_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, prints: Path,
                                           corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    assert run(capsys, lib_dir, "scan", str(prints))[0] == 0
    # a new file next to others, and one in another folder of the root
    shutil.copyfile(corpus / "prusaslicer-shapes" / "bunny.stl", prints / "Benchy" / "bunny.stl")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "torus.stl", prints / "Shapes" / "torus.stl")
    code, out, _ = run(capsys, lib_dir, "scan", "--json", str(prints / "Shapes" / "torus.stl"))
    assert code == 0, out
    report = json.loads(out)
    assert report["added"] == 1 and report["unchanged"] == 0 and report["missing"] == 0
    present = _present(lib_dir)
    assert set(present) == {"Wheel.stl", "Window.stl", "box.stl", "box.3mf", "torus.stl"}  # bunny.stl not walked
    assert present["torus.stl"] and present["torus.stl"] > 0
    with Library(lib_dir) as lib:
        assert lib.roots() == [str(prints)]
        torus = lib.file(prints / "Shapes" / "torus.stl")
        assert lib.model(torus.model_id).name == "Shapes"  # grouped into its model folder as a full scan would
        assert lib.model(torus.model_id).files == 2

    # a file directly in the root (unchanged), a new one, a changed one
    code, out, _ = run(capsys, lib_dir, "scan", "--json", str(prints / "box.3mf"))
    assert json.loads(out)["unchanged"] == 1 and json.loads(out)["added"] == 0
    code, out, _ = run(capsys, lib_dir, "scan", "--json", str(prints / "Benchy" / "bunny.stl"))
    assert json.loads(out)["added"] == 1
    (prints / "Benchy" / "Window.stl").write_bytes(b"solid broken\n")  # changed: read again
    code, out, _ = run(capsys, lib_dir, "scan", "--json", str(prints / "Benchy" / "Window.stl"))
    assert json.loads(out)["updated"] == 1 and json.loads(out)["unchanged"] == 0


def test_scan_file_outside_every_root_needs_add_root(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    prints: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    assert run(capsys, lib_dir, "scan", str(prints / "Benchy"))[0] == 0
    loose = tmp_path / "Downloads"
    loose.mkdir()
    shutil.copyfile(corpus / "3mf-samples" / "cylinder.3mf", loose / "cylinder.3mf")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "torus.stl", loose / "torus.stl")
    code, _, err = run(capsys, lib_dir, "scan", str(loose / "cylinder.3mf"))
    assert code != 0 and "is not inside any root" in err and "--add-root" in err
    assert len(err.strip().splitlines()) == 1
    assert "cylinder.3mf" not in _present(lib_dir)

    code, out, _ = run(capsys, lib_dir, "scan", "--add-root", "--json", str(loose / "cylinder.3mf"))
    assert code == 0 and json.loads(out)["added"] == 1
    assert "cylinder.3mf" in _present(lib_dir) and "torus.stl" not in _present(lib_dir)
    with Library(lib_dir) as lib:
        assert str(loose) in lib.roots()


def test_roots_add_adds_without_scanning_and_says_when_a_folder_is_in_a_root_already(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, prints: Path) -> None:
    lib_dir = tmp_path / "lib"
    code, out, err = run(capsys, lib_dir, "roots", "add", str(prints / "Benchy"))
    assert code == 0, err
    assert out.strip() == f"Added root {prints / 'Benchy'}: scan it with `printmanager scan`"
    assert _present(lib_dir) == {}  # nothing read yet
    # a folder holding the root: the root it is folded into
    code, out, err = run(capsys, lib_dir, "roots", "add", str(prints), "--json")
    assert code == 0, err
    added = json.loads(out)
    assert (added["path"], added["added"]) == (str(prints), True)
    with Library(lib_dir) as lib:
        assert lib.roots() == [str(prints)]
    code, out, err = run(capsys, lib_dir, "roots", "add", str(prints / "Shapes"))
    assert code == 0 and out.strip() == f"{prints / 'Shapes'} is in root {prints} already"
    code, out, _ = run(capsys, lib_dir, "roots", "add", str(prints / "Shapes"), "--json")
    assert json.loads(out) == {**added, "added": False}
    code, _, err = run(capsys, lib_dir, "roots", "add", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err and "Traceback" not in err
