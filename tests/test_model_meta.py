"""Model metadata you can use: creator/licence/source/note query terms, ``collection show``,
and ``--json`` on the write commands — on a real folder copied from the corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from printmanager_core import Library

from cli_support import run

from process_support import CORPUS


@pytest.fixture()
def library(tmp_path: Path) -> tuple[Path, int]:
    """A library scanned from a copy of the corpus' "Benchy multi-part" folder (eight STLs)."""
    models = tmp_path / "models"
    shutil.copytree(CORPUS / "Benchy multi-part", models / "Benchy multi-part")
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([models], workers=1, thumbnails=False)
        (model,) = lib.models()
    return directory, model.id


def test_model_set_json_and_metadata_queries(capsys: pytest.CaptureFixture[str], library: tuple[Path, int]) -> None:
    directory, mid = library
    code, out, err = run(capsys, directory, "model-set", str(mid), "--creator", "Creative Tools",
                         "--license", "CC-BY-ND-4.0", "--source-url", "https://www.3dbenchy.com/", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert (rec["id"], rec["creator"], rec["licence"]) == (mid, "Creative Tools", "CC-BY-ND-4.0")
    for query, count in [("creator:creative", 8), ('creator:"creative tools" name:wheel', 1), ("creator:nobody", 0),
                         ("license:cc-by", 8), ("licence:MIT", 0), ("source:3dbenchy", 8), ("-source:3dbenchy", 0)]:
        code, out, err = run(capsys, directory, "ls", "--json", query)
        assert code == 0, (query, err)
        assert len(json.loads(out)) == count, query


def test_collection_show_and_json_writes(capsys: pytest.CaptureFixture[str], library: tuple[Path, int]) -> None:
    directory, mid = library
    code, out, err = run(capsys, directory, "collection", "add", "Boats", str(mid), "--json")
    assert code == 0, err
    assert json.loads(out)["models"] == [mid]
    code, out, err = run(capsys, directory, "collection", "show", "Boats", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["name"] == "Boats"
    assert [(m["id"], m["name"], m["files"]) for m in shown["models"]] == [(mid, "Benchy multi-part", 8)]
    code, out, err = run(capsys, directory, "collection", "show", "Boats")
    assert code == 0 and "Benchy multi-part" in out and "8 files" in out
    code, out, err = run(capsys, directory, "ls", "--json", "collection:boats")
    assert len(json.loads(out)) == 8
    code, out, err = run(capsys, directory, "collection", "remove", "Boats", str(mid), "--json")
    assert code == 0 and json.loads(out)["models"] == []
    code, out, err = run(capsys, directory, "collection", "delete", "Boats", "--json")
    assert code == 0 and json.loads(out) == {"name": "Boats", "deleted": True}
    code, out, err = run(capsys, directory, "collection", "show", "Boats")
    assert code != 0 and "no collection" in err


def test_tag_untag_note_json(capsys: pytest.CaptureFixture[str], library: tuple[Path, int]) -> None:
    directory, mid = library
    code, out, err = run(capsys, directory, "tag", "--model", str(mid), "boat", "printed", "--json")
    assert code == 0, err
    assert sorted(json.loads(out)["tags"]) == ["boat", "printed"]
    code, out, err = run(capsys, directory, "untag", "--model", str(mid), "printed", "--json")
    assert code == 0 and json.loads(out)["tags"] == ["boat"]
    code, out, err = run(capsys, directory, "ls", "--json", "name:wheel")
    wheel = json.loads(out)[0]["id"]
    code, out, err = run(capsys, directory, "note", str(wheel), "glue the spokes", "--json")
    assert code == 0, err
    assert json.loads(out)["notes"] == "glue the spokes"
    code, out, err = run(capsys, directory, "note", "--model", str(mid), "hull prints best at 0.2", "--json")
    assert code == 0 and json.loads(out)["notes"] == "hull prints best at 0.2"
    # note: matches a file's own notes and its model's notes
    code, out, err = run(capsys, directory, "ls", "--json", "note:spokes")
    assert [f["name"] for f in json.loads(out)] == ["Wheel.stl"]
    code, out, err = run(capsys, directory, "ls", "--json", "note:hull")
    assert len(json.loads(out)) == 8


def test_tag_by_query_counts_and_confirms(capsys: pytest.CaptureFixture[str], library: tuple[Path, int],
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from printmanager_core.cli import tag as tag_module

    directory, mid = library
    code, out, err = run(capsys, directory, "tag", "--query", "format:stl -name:wheel", "printed", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["count"], result["tags"], result["kind"]) == (7, ["printed"], "file")
    code, out, err = run(capsys, directory, "ls", "--json", "tag:printed")
    assert {f["id"] for f in json.loads(out)} == set(result["ids"])
    code, out, err = run(capsys, directory, "ls", "--json", "format:stl -tag:printed")
    assert [f["name"] for f in json.loads(out)] == ["Wheel.stl"]
    # above the threshold it asks; with no answer (stdin not a terminal, empty) it aborts and changes nothing
    monkeypatch.setattr(tag_module, "CONFIRM_ABOVE", 3)
    code, out, err = run(capsys, directory, "untag", "--query", "tag:printed", "printed")
    assert code != 0 and "untag 7 files" in err
    code, out, err = run(capsys, directory, "ls", "--json", "tag:printed")
    assert len(json.loads(out)) == 7
    code, out, err = run(capsys, directory, "untag", "--query", "tag:printed", "printed", "--yes")
    assert code == 0 and "7 file(s) untagged" in out
    code, out, err = run(capsys, directory, "tag", "--model", "--query", "creator:nobody", "x", "--json")
    assert code == 0 and json.loads(out)["count"] == 0


def test_scan_fills_creator_and_licence_from_3mf_metadata(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    # cube_gears.3mf (3MF Consortium samples) carries Designer "Emmett Lalish" and a CC BY-SA LicenseTerms
    models = tmp_path / "models" / "Gears"
    models.mkdir(parents=True)
    shutil.copy(CORPUS / "3mf-samples" / "cube_gears.3mf", models)
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([models.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        assert model.creator == "Emmett Lalish"
        assert model.licence == "Creative Commons - Attribution - Share Alike"
        assert [f.name for f in lib.files("creator:lalish license:share")] == ["cube_gears.3mf"]
        lib.update_model(model.id, creator="Someone Else")
        lib.scan(workers=1, thumbnails=False)
        assert lib.model(model.id).creator == "Someone Else"  # the user's value is never overwritten
