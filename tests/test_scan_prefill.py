"""A scan fills a model's empty title and description (and creator, licence) from 3MF
metadata: the core spec's names, and Bambu Studio's project fields — never what the user set."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from printmanager_core import Library

from cli_support import run
from process_support import CORPUS


def bambu_style_copy(dest: Path) -> Path:
    """A copy of the corpus' box.3mf whose model metadata is written the Bambu Studio way
    (``License``, ``ProfileTitle``, ``ProfileDescription``; no core ``Title``/``LicenseTerms``)."""
    src = CORPUS / "3mf-samples" / "box.3mf"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "3D/3dmodel.model":
                marker = b'<metadata name="Copyright">'
                assert marker in data
                extra = (b'<metadata name="Designer">Maker A</metadata>\r\n'
                         b'  <metadata name="License">CC-BY-4.0</metadata>\r\n'
                         b'  <metadata name="ProfileTitle">Box, 0.2 mm profile</metadata>\r\n'
                         b'  <metadata name="ProfileDescription">Prints without supports</metadata>\r\n  ')
                data = data.replace(marker, extra + marker, 1)
            zout.writestr(info, data)
    return dest


def test_scan_fills_title_and_description_from_core_3mf_metadata(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "models" / "Gears"
    folder.mkdir(parents=True)
    shutil.copy(CORPUS / "3mf-samples" / "cube_gears.3mf", folder)
    directory = tmp_path / "library"
    with Library(directory) as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        assert model.title == "Three Cube Gears"
        assert model.description == "http://www.thingiverse.com/thing:213946"
        assert model.name == "Gears"  # the name stays the folder's
    code, out, err = run(capsys, directory, "model-set", str(model.id), "--title", "My gears",
                         "--description", "", "--json")
    assert code == 0, err
    assert json.loads(out)["title"] == "My gears"
    with Library(directory) as lib:
        lib.scan(workers=1, thumbnails=False)
        again = lib.model(model.id)
        assert again.title == "My gears"  # the user's value stays
        # an emptied field is empty again, so the file's value fills it: the documented rule
        assert again.description == "http://www.thingiverse.com/thing:213946"


def test_scan_fills_from_bambu_project_fields(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "Box"
    folder.mkdir(parents=True)
    bambu_style_copy(folder / "box.3mf")
    with Library(tmp_path / "library") as lib:
        lib.scan([folder.parent], workers=1, thumbnails=False)
        (model,) = lib.models()
        assert (model.title, model.description) == ("Box, 0.2 mm profile", "Prints without supports")
        assert (model.creator, model.licence) == ("Maker A", "CC-BY-4.0")
        (f,) = lib.files()
        assert f.meta["metadata"]["ProfileTitle"] == "Box, 0.2 mm profile"
