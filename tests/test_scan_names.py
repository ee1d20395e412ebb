"""File names are bytes: names that are not UTF-8, newlines, NFC/NFD, very long names.

Real files with real names on disk, a real library, the CLI as a real process.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from printmanager_core import Library
from printmanager_core.paths import display_path, path_from_json, printable, stored_path

LATIN1 = b"caf\xe9-latin1.stl"  # "café" in Latin-1: not valid UTF-8


def _bytes_path(folder: Path, name: bytes) -> str:
    """The exact os str of ``folder/name`` (surrogateescape for undecodable bytes)."""
    return os.fsdecode(os.path.join(os.fsencode(folder), name))


def _cube(corpus: Path) -> bytes:
    return (corpus / "uranium" / "simpleTestCubeBinary.stl").read_bytes()


@pytest.fixture
def named(tmp_path: Path, corpus: Path) -> Path:
    """A root whose model folder holds a Latin-1 name beside ordinary ones."""
    root = tmp_path / "Prints"
    model = root / "Cafe"
    model.mkdir(parents=True)
    shutil.copyfile(corpus / "Benchy multi-part" / "Wheel.stl", model / "Wheel.stl")
    shutil.copyfile(corpus / "assimp" / "cube.ply", model / "cube.ply")
    with open(_bytes_path(model, LATIN1), "wb") as fh:
        fh.write(_cube(corpus))
    return root


def test_store_forms_round_trip() -> None:
    exact = os.fsdecode(b"p/caf\xe9/\xff\xfe.stl")
    text, raw = stored_path(exact)
    assert text == "p/caf" + "\\xe9/" + "\\xff\\xfe.stl" and raw == b"p/caf\xe9/\xff\xfe.stl"
    text.encode("utf-8")  # valid UTF-8
    assert stored_path("p/café.stl") == ("p/café.stl", None)
    assert display_path("p/plain.stl") == "p/plain.stl"
    assert printable("a\nb\tc\x1bd\u202ee") == "a\\nb\\tc\\x1bd\\u202ee"
    assert printable(exact) == text


def test_latin1_name_scans_cleanly_with_the_other_files(library: Library, named: Path, corpus: Path) -> None:
    report = library.scan([named], thumbnails=False)
    assert report.errors == 0, report.error_files
    assert report.added == 3
    exact = _bytes_path(named / "Cafe", LATIN1)
    rec = library.file(exact)
    # the record's path is the exact os str: fsencode gives the bytes on disk
    assert rec.path == exact
    assert os.fsencode(rec.path) == os.path.join(os.fsencode(named / "Cafe"), LATIN1)
    assert rec.name == os.fsdecode(LATIN1)
    assert rec.triangles == 12 and rec.hash and rec.format == "stl"
    with open(rec.path, "rb") as fh:
        assert fh.read() == _cube(corpus)
    with library.open_file(rec) as fh:
        assert fh.read() == _cube(corpus)
    # lookups by the exact str and by the display text find the same file
    display = display_path(exact)
    assert display.endswith("caf\\xe9-latin1.stl")
    assert library.file(display).id == rec.id
    assert library.file(rec.id).path == exact
    assert sorted(f.path for f in library.model_files(rec.model_id)) == sorted(
        [exact, str(named / "Cafe" / "Wheel.stl"), str(named / "Cafe" / "cube.ply")]
    )
    # a rescan recognises it (incremental by exact path): nothing read again
    again = library.scan(thumbnails=False)
    assert again.unchanged == 3 and again.added == again.updated == again.missing == 0


def test_query_finds_undecodable_names(library: Library, named: Path) -> None:
    library.scan([named], thumbnails=False)
    exact = _bytes_path(named / "Cafe", LATIN1)

    def found(q: str) -> list[str]:
        return [f.path for f in library.files(q)]

    assert found("latin1") == [exact]  # free word
    assert found("name:latin1") == [exact]
    assert found("name:caf") == [exact]
    assert found("path:Cafe/caf") == [exact]
    # the byte as a shell passes it (surrogateescape) and as ls prints it
    assert found(os.fsdecode(b"name:caf\xe9")) == [exact]
    assert found("name:caf\\xe9") == [exact]
    assert found(os.fsdecode(b"caf\xe9")) == [exact]
    assert found("-name:latin1 format:stl") == [str(named / "Cafe" / "Wheel.stl")]
    assert [m.name for m in library.models(os.fsdecode(b"name:caf\xe9"))] == ["Cafe"]


def test_moved_undecodable_name_keeps_tags(library: Library, named: Path) -> None:
    library.scan([named], thumbnails=False)
    old = _bytes_path(named / "Cafe", LATIN1)
    rec = library.tag(library.file(old).id, "latin")
    new = _bytes_path(named / "Cafe", b"\xe0 la carte.stl")
    os.rename(old, new)
    report = library.scan(thumbnails=False)
    assert report.moved == 1 and report.added == 0 and report.missing == 0
    moved = library.file(new)
    assert moved.id == rec.id and moved.tags == ("latin",) and moved.path == new


def test_two_names_with_one_display_text_stay_two_files(library: Library, tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "r" / "m"
    root.mkdir(parents=True)
    undecodable = _bytes_path(root, b"caf\xe9.stl")
    literal = str(root / "caf\\xe9.stl")  # a real backslash in the name
    Path(undecodable).write_bytes(_cube(corpus))
    Path(literal).write_bytes(_cube(corpus))
    report = library.scan([tmp_path / "r"], thumbnails=False)
    assert report.added == 2 and report.errors == 0
    a, b = library.file(undecodable), library.file(literal)
    assert a.id != b.id and a.path == undecodable and b.path == literal
    assert display_path(a.path) == b.path
    assert library.scan(thumbnails=False).unchanged == 2


def test_nfc_and_nfd_names_are_two_files(library: Library, tmp_path: Path, corpus: Path) -> None:
    model = tmp_path / "r" / "m"
    model.mkdir(parents=True)
    nfc = unicodedata.normalize("NFC", "café.stl")
    nfd = unicodedata.normalize("NFD", "café.stl")
    assert nfc != nfd
    (model / nfc).write_bytes(_cube(corpus))
    (model / nfd).write_bytes(_cube(corpus))
    report = library.scan([tmp_path / "r"], thumbnails=False)
    assert report.added == 2
    names = sorted(f.name for f in library.files())
    assert names == sorted([nfc, nfd])
    assert library.file(str(model / nfc)).id != library.file(str(model / nfd)).id
    assert library.file(str(model / nfd)).name == nfd  # not normalised
    assert library.scan(thumbnails=False).unchanged == 2


def test_very_long_names_and_deep_paths(library: Library, tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "r"
    deep = root
    for i in range(14):  # 14 levels of 240-byte folder names: a path of ~3,400 bytes
        deep = deep / (f"{i:02d}" + "d" * 238)
    deep.mkdir(parents=True)
    longest_ascii = "a" * 251 + ".stl"  # a 255-byte component
    longest_utf8 = "é" * 125 + ".stl"  # 254 bytes in UTF-8
    longest_bytes = b"\xe9" * 251 + b".stl"  # 255 undecodable-in-part bytes
    for name in (longest_ascii, longest_utf8):
        (deep / name).write_bytes(_cube(corpus))
    with open(_bytes_path(deep, longest_bytes), "wb") as fh:
        fh.write(_cube(corpus))
    assert len(os.fsencode(deep / longest_ascii)) > 3300
    report = library.scan([root], thumbnails=False)
    assert report.errors == 0 and report.added == 3, report
    for f in library.files():
        assert len(os.fsencode(f.name)) >= 254 and f.triangles == 12
        assert library.file(f.path).id == f.id
    assert library.file(_bytes_path(deep, longest_bytes)).name == os.fsdecode(longest_bytes)
    assert library.scan(thumbnails=False).unchanged == 3


def _cli(library: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "printmanager_core", "--library", str(library), *args]
    return subprocess.run(cmd, capture_output=True, timeout=300)


def test_cli_ls_show_models_json_are_valid_utf8_and_lossless(tmp_path: Path, named: Path, corpus: Path) -> None:
    # a model folder whose own name is not UTF-8, and a file name with a newline
    odd_folder = _bytes_path(named, b"Gr\xfc\xdfe")
    os.mkdir(odd_folder)
    shutil.copyfile(corpus / "assimp" / "box.obj", os.path.join(odd_folder, "box.obj"))
    newline = named / "Cafe" / "two\nlines.stl"
    newline.write_bytes(_cube(corpus))
    lib = tmp_path / "lib"

    scan = _cli(lib, "scan", str(named), "--json", "--no-thumbnails")
    assert scan.returncode == 0, scan.stderr
    assert json.loads(scan.stdout.decode("utf-8"))["errors"] == 0

    ls = _cli(lib, "ls", "--json")
    assert ls.returncode == 0, ls.stderr
    files = json.loads(ls.stdout.decode("utf-8"))  # strict UTF-8
    exact = {path_from_json(f) for f in files}
    latin1 = _bytes_path(named / "Cafe", LATIN1)
    box = os.path.join(odd_folder, "box.obj")
    assert exact == {latin1, box, str(newline), str(named / "Cafe" / "Wheel.stl"), str(named / "Cafe" / "cube.ply")}
    by_exact = {path_from_json(f): f for f in files}
    assert base64.b64decode(by_exact[latin1]["path_bytes"]) == os.fsencode(latin1)
    assert by_exact[latin1]["path"] == display_path(latin1) and by_exact[latin1]["name"] == "caf\\xe9-latin1.stl"
    assert "path_bytes" not in by_exact[str(newline)]  # valid UTF-8: the path itself, newline and all
    assert by_exact[str(newline)]["path"] == str(newline)

    # human output: one line per file, control characters and bytes escaped
    human = _cli(lib, "ls")
    lines = human.stdout.decode("utf-8").splitlines()
    assert len(lines) == 5
    # (ls's columns: id, format, size, path, triangles, size in mm, problems)
    assert any("caf\\xe9-latin1.stl  12 triangles  1.0x1.0x1.0 mm" in line for line in lines)
    assert any("two\\nlines.stl" in line for line in lines)
    assert any("Gr\\xfc\\xdfe/box.obj" in line for line in lines)

    # show by the exact name (as a shell passes it) and by the displayed text
    for arg in (latin1, display_path(latin1)):
        show = _cli(lib, "show", arg, "--json")
        assert show.returncode == 0, show.stderr
        assert path_from_json(json.loads(show.stdout.decode("utf-8"))) == latin1
    show_human = _cli(lib, "show", str(newline))
    # (show's facts are aligned: "  path   <path>")
    shown_path = re.search(rb"^  path +(.*)$", show_human.stdout, re.M)
    assert show_human.returncode == 0 and shown_path is not None
    assert shown_path.group(1) == os.fsencode(named / "Cafe") + b"/two\\nlines.stl"

    models = json.loads(_cli(lib, "models", "--json").stdout.decode("utf-8"))
    odd = [m for m in models if m.get("path_bytes")]
    assert len(odd) == 1 and path_from_json(odd[0]) == odd_folder and odd[0]["name"] == "Gr\\xfc\\xdfe"
    model_show = _cli(lib, "show", "--model", odd_folder, "--json")
    data = json.loads(model_show.stdout.decode("utf-8"))
    assert [path_from_json(f) for f in data["files"]] == [box]
    human_models = _cli(lib, "models").stdout.decode("utf-8").splitlines()
    assert len(human_models) == 2 and any(line.endswith("Gr\\xfc\\xdfe") for line in human_models)

    # a query with the raw byte, as a shell passes it, works from the command line too
    q = _cli(lib, "ls", os.fsdecode(b"name:caf\xe9"), "--json")
    assert [path_from_json(f) for f in json.loads(q.stdout.decode("utf-8"))] == [latin1]


def test_thumbnail_of_an_undecodable_name(library: Library, named: Path) -> None:
    from printmanager_thumbnails import thumbnail

    report = library.scan([named])  # thumbnails made during the scan too
    assert report.errors == 0
    rec = library.file(_bytes_path(named / "Cafe", LATIN1))
    assert rec.thumbnail and Path(rec.thumbnail).is_file()
    t = thumbnail(library, rec.id)
    assert t.cached and t.path == Path(rec.thumbnail) and t.width > 0
    by_path = thumbnail(library, rec.path)
    assert by_path.path == t.path
    json.dumps(t.as_json()).encode("utf-8")


def test_root_and_subfolder_with_undecodable_names(library: Library, tmp_path: Path, corpus: Path) -> None:
    root = _bytes_path(tmp_path, b"Dru\xeacke")
    sub = _bytes_path(Path(root), b"Mod\xe8le")
    os.makedirs(sub)
    Path(sub, "cube.stl").write_bytes(_cube(corpus))
    Path(root, "lone.stl").write_bytes(_cube(corpus))
    report = library.scan([sub], thumbnails=False)
    assert report.added == 1 and library.roots() == [sub]
    report = library.scan([root], thumbnails=False)  # the parent folds the first root in
    assert library.roots() == [root]
    assert report.added == 1 and report.unchanged == 1
    cube = library.file(os.path.join(sub, "cube.stl"))
    assert library.model(cube.model_id).path == sub
    assert library.model(display_path(sub)).id == cube.model_id
    again = library.scan([sub], thumbnails=False)
    assert again.unchanged == 1 and again.added == again.missing == 0
