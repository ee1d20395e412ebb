"""``printmanager gallery``: static contact sheets of a query's files, from real corpus files.

The HTML sheet is parsed back and every picture decoded from its ``data:`` URI;
the PNG sheet is opened with Pillow and its grid measured.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from printmanager_core import Library
from printmanager_thumbnails.gallery import LABEL, TILE, GalleryError, write_gallery

from cli_support import run


class _Figures(HTMLParser):
    """Each <figure>: its file id, the <img> src (or None) and its caption text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, object]] = []
        self.links: list[str] = []
        self._in: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure":
            self._in = {"id": int(a["data-file-id"] or 0), "src": None, "text": ""}
            self.figures.append(self._in)
        elif tag == "img" and self._in is not None:
            self._in["src"] = a["src"]
        for key in ("src", "href"):
            if a.get(key) and not str(a[key]).startswith("data:"):
                self.links.append(str(a[key]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._in["text"] = str(self._in["text"]) + data


@pytest.fixture
def scanned(tmp_path: Path, corpus: Path) -> tuple[Path, Path]:
    """A library over a copy of real corpus folders: meshes, 3MF samples and sliced files."""
    prints = tmp_path / "prints"
    for folder in ("3mf-samples", "sliced", "Benchy multi-part"):
        shutil.copytree(corpus / folder, prints / folder)
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        lib.scan([prints], workers=1, thumbnails=False)
    return lib_dir, prints


def test_html_sheet_holds_every_result_with_a_decodable_picture(
    scanned: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_dir, _ = scanned
    out = tmp_path / "sheets" / "meshes.html"
    code, stdout, err = run(capsys, lib_dir, "gallery", "-format:gcode", "-format:bgcode", "-o", str(out),
                            "--json")
    assert code == 0, err
    report = json.loads(stdout)
    with Library(lib_dir) as lib:
        expected = lib.files("-format:gcode -format:bgcode")
    assert report["path"] == str(out.resolve()) and report["format"] == "html"
    assert report["files"] == len(expected) >= 8 and report["bytes"] == out.stat().st_size

    # moved elsewhere, the page is still whole: no link out of it, every picture inline
    moved = tmp_path / "elsewhere" / "copy.html"
    moved.parent.mkdir()
    shutil.move(out, moved)
    parser = _Figures()
    parser.feed(moved.read_text(encoding="utf-8"))
    assert parser.links == []
    assert [f["id"] for f in parser.figures] == [f.id for f in expected]
    pictured = 0
    for fig, rec in zip(parser.figures, expected):
        assert rec.name in str(fig["text"])
        if rec.triangles is not None:
            assert f"{rec.triangles:,} tri" in str(fig["text"])
        src = fig["src"]
        if src is None:
            assert rec.error, f"{rec.name} has no picture and no error"
            continue
        assert isinstance(src, str) and src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            im.load()
            assert im.size == (256, 256)
        pictured += 1
    assert pictured == report["pictured"] and pictured >= 8


def test_png_sheet_is_a_grid_of_the_results(
    scanned: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_dir, _ = scanned
    out = tmp_path / "sliced.png"
    code, stdout, err = run(capsys, lib_dir, "gallery", "format:gcode", "OR", "format:bgcode", "-o", str(out), "--columns",
                            "2", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["files"] == 3  # cura_torus.gcode, mini_cube_a.gcode, mini_cube_b.bgcode
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (2 * TILE, 2 * (TILE + LABEL)) == (report["width"], report["height"])
        rgb = im.convert("RGB")
        # every tile holds a picture (not the flat tile background), the fourth cell is empty
        for cell in range(3):
            x, y = (cell % 2) * TILE, (cell // 2) * (TILE + LABEL)
            colours = rgb.crop((x, y, x + TILE, y + TILE)).getcolors(maxcolors=1 << 16)
            assert colours is None or len(colours) > 20
        empty = rgb.crop((TILE, TILE + LABEL, 2 * TILE, 2 * (TILE + LABEL))).getcolors()
        assert empty is not None and len(empty) == 1

    code, stdout, err = run(capsys, lib_dir, "gallery", "-o", str(tmp_path / "all.png"))
    assert code == 0, err
    with Library(lib_dir) as lib:
        n = len(lib.files())
    with Image.open(tmp_path / "all.png") as im:
        assert im.size == (6 * TILE, -(-n // 6) * (TILE + LABEL))
    assert stdout.startswith(str((tmp_path / "all.png").resolve()))


def test_gallery_errors_are_one_line(scanned: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    lib_dir, _ = scanned
    cases = [
        (["nosuchthingatall", "-o", str(tmp_path / "x.html")], "Error: no file matches 'nosuchthingatall'"),
        (["-o", str(tmp_path / "x.jpg")],
         "Error: cannot write a gallery as 'x.jpg': the name must end in .html or .png"),
    ]
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "x.html"
    cases.append((["-o", str(target)], f"Error: cannot write {target}: {tmp_path / 'afile'} is not a folder"))
    if os.geteuid() != 0:  # root writes anywhere
        blocked = tmp_path / "readonly"
        blocked.mkdir()
        blocked.chmod(0o500)
        cases.append((["-o", str(blocked / "x.html")], f"Error: cannot write {blocked / 'x.html'}: Permission denied"))
    for args, message in cases:
        code, stdout, err = run(capsys, lib_dir, "gallery", *args)
        assert code == 1 and stdout == ""
        assert err.strip() == message
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x.jpg").exists()


def test_gallery_api_and_a_file_that_cannot_be_pictured(scanned: tuple[Path, Path], tmp_path: Path,
                                                        corpus: Path) -> None:
    lib_dir, prints = scanned
    shutil.copy(corpus / "broken" / "unparseable.stl", prints / "3mf-samples")
    with Library(lib_dir) as lib:
        lib.scan([prints], workers=1, thumbnails=False)
        broken = [f for f in lib.files() if f.error]
        assert broken
        sheet = write_gallery(lib, "has:error", tmp_path / "errors.html")
        assert sheet.files == len(broken) and sheet.pictured == 0
        page = (tmp_path / "errors.html").read_text(encoding="utf-8")
        for f in broken:
            assert f.error is not None and f.error.replace("'", "&#x27;").replace('"', "&quot;")[:40] in page
        with pytest.raises(GalleryError, match="^a gallery needs at least one column$"):
            write_gallery(lib, "", tmp_path / "x.png", columns=0)


def test_make_demo_ends_with_a_gallery_that_stays(tmp_path: Path) -> None:
    """``examples/demo.py`` (what ``make demo`` runs) prints the path of a gallery that outlives it."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "demo-gallery.html"
    done = subprocess.run([sys.executable, str(repo / "examples" / "demo.py"), "--gallery", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith(out.as_uri())
    parser = _Figures()
    parser.feed(out.read_text(encoding="utf-8"))
    import zipfile

    models = repo / "examples" / "models"
    names = [p.name for p in models.rglob("*") if p.is_file() and p.suffix.lower() in (".stl", ".3mf", ".obj", ".ply")]
    for archive in models.rglob("*.zip"):
        with zipfile.ZipFile(archive) as zf:
            names += [n.rsplit("/", 1)[-1] for n in zf.namelist() if not n.endswith("/")]
    assert len(parser.figures) == len(names) >= 10
    for name in names:
        assert any(name in str(f["text"]) for f in parser.figures), name
    assert all(str(f["src"]).startswith("data:image/png;base64,") for f in parser.figures)
