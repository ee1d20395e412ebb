"""Manyfold ``datapackage.json`` sidecars: a scan fills a model's empty fields from one (once
per content change), ``sidecar write`` merges our fields back without touching the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from printmanager_core import Library

from cli_support import run
from process_support import CORPUS

FIXTURE = Path(__file__).parent / "data" / "datapackage.json"


def model_folder(tmp_path: Path, sidecar: bool = True) -> Path:
    """A model folder of real corpus STLs, with the fixture sidecar next to them."""
    folder = tmp_path / "models" / "M3 hardware"
    folder.mkdir(parents=True)
    for name in ("M3_hex_nut.stl", "M3x10_screw.stl"):
        shutil.copy(CORPUS / "prusaslicer-shapes" / name, folder)
    if sidecar:
        shutil.copy(FIXTURE, folder / "datapackage.json")
    return folder


def test_scan_fills_the_models_empty_fields_from_the_sidecar(tmp_path: Path) -> None:
    folder = model_folder(tmp_path)
    with Library(tmp_path / "library") as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        assert model.kind == "folder" and model.name == "M3 hardware"
        assert model.title == "M3 hardware set"
        assert model.caption == "A nut and a screw"
        assert model.description == "An M3 hex nut and an M3x10 screw.\n\nPrint the nut flat."
        assert model.licence == "CC-BY-4.0"
        assert model.creator == "Ada Maker"  # the contributor whose roles include creator, not the publisher
        assert model.source_url == "https://example.org/models/m3-hardware"
        assert sorted(model.tags) == ["M3", "hardware", "metric-thread"]
        assert [m.id for m in lib.models("tag:metric-thread")] == [model.id]


def test_a_value_the_user_set_is_not_overwritten_and_a_removed_tag_stays_removed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = model_folder(tmp_path, sidecar=False)
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
    code, _, err = run(capsys, directory, "model-set", str(model.id), "--title", "My nuts", "--creator", "Me")
    assert code == 0, err
    shutil.copy(FIXTURE, folder / "datapackage.json")
    with Library(directory) as lib:
        lib.scan(workers=1, thumbnails=False)
        m = lib.model(model.id)
        assert (m.title, m.creator) == ("My nuts", "Me")
        assert m.caption == "A nut and a screw"  # empty fields are filled
        lib.untag_model(model.id, "hardware")
        lib.scan(workers=1, thumbnails=False)
        assert "hardware" not in lib.model(model.id).tags  # same sidecar: not taken in again
        data = json.loads((folder / "datapackage.json").read_text())
        data["keywords"].append("nylon")
        (folder / "datapackage.json").write_text(json.dumps(data))
        lib.scan(workers=1, thumbnails=False)
        assert "nylon" in lib.model(model.id).tags  # a changed sidecar is read again


def test_write_round_trip_keeps_what_we_do_not_understand(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = model_folder(tmp_path)
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        lib.tag_model(model.id, "nylon")
        lib.untag_model(model.id, "M3")
    code, _, err = run(capsys, directory, "model-set", str(model.id), "--caption", "Nut and screw",
                       "--source-url", "https://example.org/elsewhere")
    assert code == 0, err
    code, out, err = run(capsys, directory, "sidecar", "write", str(model.id), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["count"] == 1 and report["models"][0]["written"] is True
    before = json.loads(FIXTURE.read_text())
    after = json.loads((folder / "datapackage.json").read_text())
    assert not list(folder.glob(".datapackage.json.*"))  # no temporary file left behind
    # every key we do not understand, as JSON values, exactly as it was
    for key in ("$schema", "name", "image", "sensitive", "links", "collections", "resources", "x-printshop"):
        assert after[key] == before[key], key
    assert after["resources"][1]["presupported"] is True
    # every field we understand, as the model holds it
    assert after["title"] == "M3 hardware set"
    assert after["caption"] == "Nut and screw"
    assert after["description"] == before["description"]
    assert after["keywords"] == ["hardware", "metric thread", "nylon"]  # the sidecar's spelling kept
    assert after["licenses"] == before["licenses"]
    assert after["contributors"] == before["contributors"]
    assert after["homepage"] == "https://example.org/elsewhere"
    # and read back into a fresh library, it says the same
    with Library(tmp_path / "fresh") as fresh:
        fresh.scan([folder.parent], workers=1, thumbnails=False)
        (again,) = fresh.models()
        assert (again.caption, again.source_url, again.creator) == (
            "Nut and screw", "https://example.org/elsewhere", "Ada Maker")
        assert sorted(again.tags) == ["hardware", "metric-thread", "nylon"]


def test_write_creates_a_new_sidecar_with_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = model_folder(tmp_path, sidecar=False)
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        lib.update_model(model.id, creator="Ada Maker", licence="CC0-1.0", title="Hardware")
        lib.tag_model(model.id, "metric-thread")
    assert not (folder / "datapackage.json").exists()  # a scan never writes one
    code, out, err = run(capsys, directory, "sidecar", "write", "--query", "", "--json")
    assert code == 0, err
    data = json.loads((folder / "datapackage.json").read_text())
    assert data["$schema"] == "https://manyfold.app/profiles/0.0/datapackage.json"
    assert data["name"] == "m3-hardware" and data["title"] == "Hardware"
    assert data["licenses"] == [{"name": "CC0-1.0"}]
    assert data["contributors"] == [{"title": "Ada Maker", "roles": ["creator"]}]
    assert data["keywords"] == ["metric-thread"]
    code, _, err = run(capsys, directory, "sidecar", "write")
    assert code == 2 and "--query" in err


def test_a_sidecar_that_cannot_be_used_is_a_problem_of_its_model_until_fixed_or_removed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from printmanager_core.sidecars import MAX_BYTES

    models = tmp_path / "models"
    good = model_folder(tmp_path)
    bad = {
        "broken": b'{"title": "half',
        "listed": b'["not", "an", "object"]',
        "shape": json.dumps({"title": "ok", "keywords": "a, b"}).encode(),
        "resources": json.dumps({"resources": [{"path": 12}]}).encode(),
        "latin1": b'{"title": "caf\xe9"}',
        "huge": b'{"description": "' + b"x" * MAX_BYTES + b'"}',
    }
    for name, data in bad.items():
        folder = models / name
        folder.mkdir()
        shutil.copy(CORPUS / "prusaslicer-shapes" / "M3_hex_nut.stl", folder)
        (folder / "datapackage.json").write_bytes(data)
    linked = models / "linked"
    linked.mkdir()
    shutil.copy(CORPUS / "prusaslicer-shapes" / "M3_hex_nut.stl", linked)
    (linked / "datapackage.json").symlink_to(FIXTURE)  # valid JSON, but the scan never follows a link
    directory = tmp_path / "library"
    with Library(directory) as lib:
        report = lib.scan([models], workers=1, thumbnails=False)
        assert not report.interrupted
        by_name = {m.name: m for m in lib.models()}
        assert by_name[good.name].title == "M3 hardware set"  # the good one is still taken in
        assert all(not by_name[n].title for n in bad if n != "shape")  # the bad ones are skipped whole
        assert not by_name["shape"].title and not by_name["shape"].tags
        found = {Path(p.path).parent.name: p for p in lib.problems(kinds=["sidecar-unreadable"])}
        assert set(found) == {*bad, "linked"}
        for name, p in found.items():
            assert (p.about, p.severity, p.model_id) == ("model", "warning", by_name[name].id)
            assert p.path == str(models / name / "datapackage.json") and "\n" not in p.detail
            assert p.detail.startswith("skipped: ")
        assert "not JSON: Unterminated string starting at (line 1, column 11)" in found["broken"].detail
        assert "not a JSON object but a list" in found["listed"].detail
        assert "not a data package: 'keywords' is text, not a list" in found["shape"].detail
        assert "resource 1 has a 'path' that is a number, not text" in found["resources"].detail
        assert "not UTF-8 text" in found["latin1"].detail
        assert "over the size limit" in found["huge"].detail
        assert "a symbolic link (not followed)" in found["linked"].detail
        # queryable like any problem: the model's files have it
        assert {Path(f.path).parent.name for f in lib.files("has:problem kind:sidecar-unreadable")} == {*bad, "linked"}
        assert lib.files("problem:bad-sidecar format:stl")  # an alias
        # sidecar write will not overwrite one it cannot read
        (skipped,) = lib.write_sidecars([by_name["broken"].id])
        assert not skipped.written and "cannot be used: not JSON" in skipped.reason
        assert (models / "broken" / "datapackage.json").read_bytes() == bad["broken"]

    code, out, err = run(capsys, directory, "problems", "--kind", "sidecar-unreadable", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert len(listed) == len(bad) + 1 and {p["kind"] for p in listed} == {"sidecar-unreadable"}
    assert {p["about"] for p in listed} == {"model"} and all(p["detail"] for p in listed)
    code, _, err = run(capsys, directory, "settings", "set", "problems.severity.sidecar-unreadable", "off")
    assert code == 0, err
    with Library(directory) as lib:
        assert lib.problems(kinds=["sidecar-unreadable"]) == [] and not lib.files("has:problem kind:sidecar")

    # fixed, removed: gone at the next scan; the fixed one is taken in then
    code, _, err = run(capsys, directory, "settings", "set", "problems.severity.sidecar-unreadable", "info")
    assert code == 0, err
    shutil.copy(FIXTURE, models / "broken" / "datapackage.json")
    (models / "listed" / "datapackage.json").unlink()
    with Library(directory) as lib:
        lib.scan(workers=1, thumbnails=False)
        left = lib.problems(kinds=["sidecar-unreadable"])
        assert {Path(p.path).parent.name for p in left} == set(bad) - {"broken", "listed"} | {"linked"}
        assert {p.severity for p in left} == {"info"}
        assert lib.model(str(models / "broken")).title == "M3 hardware set"
        lib.remove_root(str(models))  # the root's problems leave with it
        assert lib.problems() == []


def test_write_lists_the_models_files_as_resources_and_keeps_what_entries_say(tmp_path: Path) -> None:
    from PIL import Image

    folder = model_folder(tmp_path, sidecar=False)
    (folder / "parts").mkdir()  # a part folder: its files are the model's
    shutil.copy(CORPUS / "3mf-samples" / "box.3mf", folder / "parts" / "Box (v2).3mf")
    shutil.copy(CORPUS / "sliced" / "mini_cube_b.bgcode", folder)
    Image.new("RGB", (4, 4), "red").save(folder / "preview.png")
    (folder / ".hidden.stl").write_bytes((CORPUS / "prusaslicer-shapes" / "M3_hex_nut.stl").read_bytes())
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        (done,) = lib.write_sidecars([model.id])
        assert done.written
        data = json.loads((folder / "datapackage.json").read_text())
        assert data["resources"] == [
            {"name": "m3_hex_nut", "path": "M3_hex_nut.stl", "mediatype": "model/stl"},
            {"name": "m3x10_screw", "path": "M3x10_screw.stl", "mediatype": "model/stl"},
            {"name": "mini_cube_b", "path": "mini_cube_b.bgcode", "mediatype": "text/x-gcode"},
            {"name": "box-v2", "path": "parts/Box (v2).3mf", "mediatype": "model/3mf"},
            {"name": "preview", "path": "preview.png", "mediatype": "image/png"},
        ]
        # Manyfold's entries: their keys stay; a gone file's entry goes; a new file comes in
        data["resources"] = [
            None,  # Manyfold writes the sidecar itself as null
            {"name": "Nut", "path": "./M3_hex_nut.stl", "mediatype": "model/stl", "presupported": True, "up": "+y"},
            {"path": "M3x10_screw.stl", "units": "mm"},
            {"name": "old", "path": "old.stl", "mediatype": "model/stl"},
            {"name": "online", "path": "https://example.org/m3.stl"},
        ]
        (folder / "datapackage.json").write_text(json.dumps(data))
        (folder / "mini_cube_b.bgcode").unlink()
        shutil.copy(CORPUS / "sliced" / "mini_cube_a.gcode", folder / "M3 nut.gcode")
        lib.scan(workers=1, thumbnails=False)
        (done,) = lib.write_sidecars([model.id])
        assert done.written
        after = json.loads((folder / "datapackage.json").read_text())
        assert after["resources"] == [
            {"name": "Nut", "path": "./M3_hex_nut.stl", "mediatype": "model/stl", "presupported": True, "up": "+y"},
            {"name": "m3x10_screw", "path": "M3x10_screw.stl", "mediatype": "model/stl", "units": "mm"},
            {"name": "online", "path": "https://example.org/m3.stl"},
            {"name": "m3-nut", "path": "M3 nut.gcode", "mediatype": "text/x-gcode"},
            {"name": "box-v2", "path": "parts/Box (v2).3mf", "mediatype": "model/3mf"},
            {"name": "preview", "path": "preview.png", "mediatype": "image/png"},
        ]
        assert lib.problems(kinds=["sidecar-unreadable"]) == []


def test_a_new_resource_is_named_and_typed_as_manyfold_does() -> None:
    from printmanager_core.sidecars import media_type, resource

    # Manyfold's own expectation for its data package resources (its ModelFileSerializer spec)
    assert resource("files/test model.stl") == {"name": "test-model", "path": "files/test model.stl",
                                                "mediatype": "model/stl"}
    assert resource("Ünïcode Part.OBJ") == {"name": "unicode-part", "path": "Ünïcode Part.OBJ",
                                             "mediatype": "model/obj"}
    assert [media_type(n) for n in ("a.gcode.3mf", "b.JPG", "c.ply", "d.step", "e.unknown", "noext")] == [
        "model/3mf", "image/jpeg", "model/x-ply", "model/step", None, None]
    assert resource("notes") == {"name": "notes", "path": "notes"}  # no type known: none given


def test_the_sidecar_step_opens_only_the_sidecars_the_walk_saw(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from printmanager_core import sidecars

    folder = model_folder(tmp_path)
    for i in range(5):
        other = folder.parent / f"part {i}"
        other.mkdir()
        shutil.copy(CORPUS / "uranium" / "simpleTestCubeBinary.stl", other)
    opened: list[Path] = []
    real_read = sidecars.read

    def read(path: Path) -> tuple[bytes, dict]:
        opened.append(path)
        return real_read(path)

    monkeypatch.setattr(sidecars, "read", read)
    with Library(tmp_path / "library") as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        assert opened == [folder / "datapackage.json"]
        assert next(m for m in lib.models() if m.name == "M3 hardware").licence == "CC-BY-4.0"
        # a sidecar put in a folder the next scan does not walk is still looked for
        shutil.copy(FIXTURE, folder.parent / "part 0" / "datapackage.json")
        opened.clear()
        lib.scan([folder.parent / "part 1"], workers=1, thumbnails=False)
        assert folder.parent / "part 0" / "datapackage.json" in opened
        assert next(m for m in lib.models() if m.name == "part 0").licence == "CC-BY-4.0"
