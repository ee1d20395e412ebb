"""What a scan catalogues: every regular file of a model folder; junk and ignore patterns left out."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from printmanager_core import Library
from printmanager_core.ignore import LIBRARY_IGNORE_FILE, ROOT_IGNORE_FILE


@pytest.fixture
def pack(tmp_path: Path, corpus: Path) -> Path:
    """A downloaded model pack as people have them: parts, docs, sources, junk."""
    root = tmp_path / "Prints"
    model = root / "Rocket"
    (model / "renders").mkdir(parents=True)
    shutil.copyfile(corpus / "Benchy multi-part" / "Wheel.stl", model / "nose.stl")
    shutil.copyfile(corpus / "more-formats" / "BoxTextured.glb", model / "box.glb")
    (model / "rocket.blend").write_bytes(b"BLENDER-v300 not really")
    (model / "rocket.blend1").write_bytes(b"a Blender backup")
    (model / "LICENSE").write_text("CC-BY 4.0\n")
    (model / "Assembly.PDF").write_bytes(b"%PDF-1.4 not really")
    (model / "renders" / "hero.png").write_bytes(b"\x89PNG not really")
    (model / "parts.STEP").write_text("ISO-10303-21;\nHEADER;\nENDSEC;\nEND-ISO-10303-21;\n")
    # junk other tools leave behind
    (model / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (model / "Thumbs.db").write_bytes(b"junk")
    (model / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (model / "__MACOSX").mkdir()
    (model / "__MACOSX" / "._nose.stl").write_bytes(b"resource fork")
    (model / ".git" / "objects").mkdir(parents=True)
    (model / ".git" / "objects" / "ab12").write_bytes(b"blob")
    (model / "@eaDir").mkdir()
    (model / "@eaDir" / "SYNOPHOTO_THUMB_M.jpg").write_bytes(b"jpg")
    # directly in the root: a lone model, and a file of no known kind
    shutil.copyfile(corpus / "assimp" / "cube.ply", root / "cube.ply")
    (root / "setup.exe").write_bytes(b"MZ")
    (root / "notes.docx").write_bytes(b"PK")
    return root


def _names(lib: Library) -> dict[str, str | None]:
    return {str(Path(f.path).relative_to(f.path.split("/Prints/")[0] + "/Prints")): f.format for f in lib.files()}


def test_every_regular_file_of_a_model_folder_is_catalogued(library: Library, pack: Path) -> None:
    report = library.scan([pack], thumbnails=False)
    formats = _names(library)
    assert formats == {
        "Rocket/nose.stl": "stl",
        "Rocket/box.glb": formats["Rocket/box.glb"],  # a reader's name once there is one, else "glb"
        "Rocket/rocket.blend": "blend",
        "Rocket/rocket.blend1": "blend1",
        "Rocket/LICENSE": None,
        "Rocket/Assembly.PDF": "pdf",
        "Rocket/renders/hero.png": "png",
        "Rocket/parts.STEP": formats["Rocket/parts.STEP"],
        "cube.ply": "ply",
    }, report
    assert formats["Rocket/box.glb"] in ("glb", "gltf") and formats["Rocket/parts.STEP"] in ("step", "stp")
    # hashed and grouped into the model, readable or not
    rocket = library.model(str(pack / "Rocket"))
    files = library.model_files(rocket.id)
    assert len(files) == 8 and all(f.hash and f.hash.startswith("sha256:") for f in files)
    assert {f.name for f in files if f.error is None} >= {"nose.stl", "rocket.blend", "LICENSE", "Assembly.PDF"}
    assert library.scan(thumbnails=False).unchanged == 9


def test_archive_members_are_catalogued_without_junk(library: Library, tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "Prints"
    root.mkdir()
    with zipfile.ZipFile(root / "pack.zip", "w") as zf:
        zf.write(corpus / "Benchy multi-part" / "Wheel.stl", "pack/Wheel.stl")
        zf.writestr("pack/readme", "no extension")
        zf.writestr("pack/source.blend", "blend")
        zf.writestr("__MACOSX/pack/._Wheel.stl", "fork")
        zf.writestr("pack/.DS_Store", "junk")
        zf.writestr("pack/Thumbs.db", "junk")
    library.scan([root], thumbnails=False)
    members = {f.path.split("!/")[1]: f.format for f in library.files()}
    assert members == {"pack/Wheel.stl": "stl", "pack/readme": None, "pack/source.blend": "blend"}


def test_ignore_file_in_the_root_uses_gitignore_syntax(library: Library, pack: Path, corpus: Path) -> None:
    library.scan([pack], thumbnails=False)
    wheel_id = library.file(str(pack / "Rocket" / "nose.stl")).id
    (pack / ROOT_IGNORE_FILE).write_text(
        "# backups and renders are not models\n*.blend1\nrenders/\n/cube.ply\n*.PDF\n!Assembly.PDF\n"
    )
    (pack / "Rocket" / "sub").mkdir()
    shutil.copyfile(corpus / "assimp" / "cube_binary.ply", pack / "Rocket" / "sub" / "cube.ply")
    report = library.scan(thumbnails=False)
    assert report.skipped == []
    formats = _names(library)
    assert "Rocket/rocket.blend1" not in formats and "Rocket/renders/hero.png" not in formats
    assert "cube.ply" not in formats  # anchored to the root
    assert "Rocket/sub/cube.ply" in formats  # the anchored pattern does not match deeper
    assert "Rocket/Assembly.PDF" in formats  # re-included with !
    # what became ignored is marked missing (soft, as a deletion), the rest kept
    assert report.missing == 3
    assert library.file(wheel_id).missing is False
    assert {f.name for f in library.files("is:missing", include_missing=True)} == {"rocket.blend1", "hero.png", "cube.ply"}


def test_library_ignore_file_applies_to_every_root(library: Library, pack: Path, tmp_path: Path, corpus: Path) -> None:
    other = tmp_path / "More" / "Thing"
    other.mkdir(parents=True)
    shutil.copyfile(corpus / "assimp" / "box.obj", other / "box.obj")
    (other / "box.blend1").write_bytes(b"backup")
    (library.directory / LIBRARY_IGNORE_FILE).write_text("*.blend1\n")
    (pack / ROOT_IGNORE_FILE).write_text("renders/\n")
    library.scan([pack, tmp_path / "More"], thumbnails=False)
    names = {Path(f.path).name for f in library.files()}
    assert "rocket.blend1" not in names and "box.blend1" not in names and "hero.png" not in names
    assert {"box.obj", "nose.stl", "rocket.blend"} <= names


def test_bad_ignore_lines_are_reported_and_the_rest_applies(library: Library, pack: Path) -> None:
    (pack / ROOT_IGNORE_FILE).write_text("*.blend1\n\\\nrenders/\n")
    report = library.scan([pack], thumbnails=False)
    assert [(s.path, s.error.split(":")[0]) for s in report.skipped] == [(str(pack / ROOT_IGNORE_FILE), "line 2")]
    names = {Path(f.path).name for f in library.files()}
    assert "rocket.blend1" not in names and "hero.png" not in names and "nose.stl" in names


def test_scanning_a_subfolder_honours_the_root_ignore_file(library: Library, pack: Path) -> None:
    library.add_root(pack)
    (pack / ROOT_IGNORE_FILE).write_text("Rocket/renders/\n")
    library.scan([pack / "Rocket"], thumbnails=False)
    names = {Path(f.path).name for f in library.files()}
    assert "hero.png" not in names and "nose.stl" in names


def test_scanning_an_ignored_or_junk_subfolder_catalogues_nothing(library: Library, pack: Path) -> None:
    (pack / ROOT_IGNORE_FILE).write_text("renders/\n")
    library.scan([pack], thumbnails=False)
    before = {f.id for f in library.files()}
    for folder in (pack / "Rocket" / "renders", pack / "Rocket" / "__MACOSX"):
        report = library.scan([folder], thumbnails=False)
        assert report.added == 0 and report.missing == 0
    assert {f.id for f in library.files()} == before
