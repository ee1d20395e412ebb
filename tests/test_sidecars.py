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
