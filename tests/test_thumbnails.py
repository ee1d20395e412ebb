"""The thumbnails plugin in a library: the hook, the cache, scans, models, the CLI, the corpus."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from printmanager_core import Library, hookimpl, plugins
from printmanager_thumbnails import (
    Thumbnail,
    ThumbnailError,
    make_thumbnail,
    model_thumbnail,
    thumbnail,
)

MESH_FORMATS = {"stl", "obj", "ply", "3mf"}
SLICED_FORMATS = {"gcode", "bgcode", "gcode.3mf"}


def png_info(path: str | Path) -> tuple[np.ndarray, dict[str, str]]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA")), dict(im.text)


def assert_whole_and_not_blank(rgba: np.ndarray, what: str, shaded: bool = True) -> None:
    """Not blank, and nothing cropped: the foreground stays off the picture's edges."""
    h, w = rgba.shape[:2]
    a = rgba[:, :, 3]
    fg = a > 0
    assert fg.sum() > 0.02 * w * h, f"{what}: blank or nearly blank picture"
    if shaded:
        lum = rgba[:, :, :3][fg].astype(float).mean(axis=1)
        assert lum.max() - lum.min() > 20, f"{what}: a flat silhouette, not a shaded picture"
    ys, xs = np.nonzero(fg)
    margin = 2
    assert xs.min() >= margin and ys.min() >= margin, f"{what}: touches the top/left edge"
    assert xs.max() < w - margin and ys.max() < h - margin, f"{what}: touches the bottom/right edge"


@pytest.fixture
def prints(tmp_path: Path, corpus: Path) -> Path:
    root = tmp_path / "prints"
    shutil.copytree(corpus / "sliced", root / "sliced")
    shutil.copytree(corpus / "Benchy multi-part", root / "Benchy")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "torus.stl", root / "torus.stl")
    shutil.copyfile(corpus / "broken" / "empty.stl", root / "empty.stl")
    return root


# --- the corpus: every loadable mesh and sliced file -------------------------


def test_every_loadable_corpus_file_gets_a_good_thumbnail(tmp_path: Path, corpus: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.scan([corpus])
        files = lib.files()
        checked = 0
        for f in files:
            if f.error or f.format not in MESH_FORMATS | SLICED_FORMATS:
                continue
            if f.format in MESH_FORMATS and not f.triangles and f.format != "3mf":
                continue  # read, but holds no triangles: nothing to draw
            assert f.thumbnail, f"{f.path}: no thumbnail after the scan"
            rgba, text = png_info(f.thumbnail)
            assert rgba.shape == (256, 256, 4)
            if f.thumbnails:
                # the file's own picture (a slicer's preview fills its frame): whole, not blank
                assert text["printmanager-source"] == "embedded", f"{f.path}: not its embedded picture"
                assert (rgba[:, :, 3] > 0).sum() > 0.2 * 256 * 256
                assert np.ptp(rgba[:, :, :3][rgba[:, :, 3] > 0].astype(int)) > 40
            else:
                assert text["printmanager-source"] == "rendered"
                # (a lone triangle is one flat face; everything else shows several shades)
                assert_whole_and_not_blank(rgba, f.path, shaded=f.triangles is None or f.triangles > 2)
            checked += 1
        assert checked >= 40
        # the unreadable ones have no thumbnail, and the scan went on
        assert lib.file(corpus / "broken" / "empty.stl").thumbnail is None


def test_sliced_files_show_their_embedded_picture(tmp_path: Path, corpus: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.scan([corpus / "sliced"], thumbnails=False)
        for name in ("mini_cube_a.gcode", "mini_cube_b.bgcode"):
            t = thumbnail(lib, corpus / "sliced" / name)
            assert t.source == "embedded" and t.detail == "thumbnail-220x124.png"
            rgba, _ = png_info(t.path)
            # the slicer's 220x124 preview, fitted to the square: transparent bands above and below
            assert rgba[5, 128, 3] == 0 and rgba[128, 128, 3] == 255
            orange = rgba[100:150, 100:150, :3].reshape(-1, 3).mean(axis=0)
            assert orange[0] > 150 and orange[2] < 80  # the orange cube of the PrusaSlicer preview
        torus = thumbnail(lib, corpus / "sliced" / "cura_torus.gcode")
        assert torus.source == "rendered" and torus.detail.startswith("toolpath")


def test_binary_gcode_under_a_text_gcode_name_shows_its_picture(tmp_path: Path, corpus: Path) -> None:
    # the reader table picks the bgcode reader by content; the thumbnail must come from it too
    (tmp_path / "m").mkdir()
    shutil.copy(corpus / "sliced" / "mini_cube_b.bgcode", tmp_path / "m" / "cube.gcode")
    with Library(tmp_path / "lib") as lib:
        lib.scan([tmp_path / "m"], workers=1, thumbnails=False)
        t = thumbnail(lib, tmp_path / "m" / "cube.gcode")
        assert t.source == "embedded" and t.detail == "thumbnail-220x124.png"


# --- the hook -------------------------------------------------------------------


def test_make_thumbnail_embedded_before_rendered(library: Library, corpus: Path) -> None:
    library.scan([corpus / "sliced"], thumbnails=False)
    gcode = library.file(corpus / "sliced" / "mini_cube_a.gcode")
    impls = [i.function.__name__ for i in library.hook.make_thumbnail.get_hookimpls()]
    # pluggy calls the last of this list first: embedded first, rendered last
    assert impls.index("embedded_thumbnail") > impls.index("rendered_thumbnail")
    result = library.hook.make_thumbnail(library=library, file=gcode, size=64)
    assert isinstance(result, Thumbnail) and result.source == "embedded"
    assert (result.width, result.height) == (64, 64)
    torus = library.file(corpus / "sliced" / "cura_torus.gcode")
    assert library.hook.make_thumbnail(library=library, file=torus, size=64).source == "rendered"


def test_make_thumbnail_third_party_plugin_is_asked_first(library: Library, corpus: Path, tmp_path: Path) -> None:
    models = tmp_path / "m"
    models.mkdir()
    shutil.copyfile(corpus / "prusaslicer-shapes" / "box.stl", models / "box.stl")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "torus.stl", models / "torus.stl")

    class Stamp:
        @hookimpl
        def make_thumbnail(self, library, file, size):  # type: ignore[no-untyped-def]
            if file.name != "box.stl":
                return None
            return Thumbnail.from_image(Image.new("RGBA", (size, size), (255, 0, 255, 255)), "rendered",
                                        detail="stamp")

    plugins.register_plugin(Stamp(), name="stamp")
    try:
        library.scan([models], thumbnails=False)
        boxed = thumbnail(library, models / "box.stl")
        assert boxed.detail == "stamp"
        assert tuple(png_info(boxed.path)[0][10, 10]) == (255, 0, 255, 255)
        # a None from the plugin lets ours answer
        assert thumbnail(library, models / "torus.stl").detail.startswith("mesh")
    finally:
        plugins.unregister_plugin("stamp")


def test_make_thumbnail_nothing_to_picture_is_a_clear_error(library: Library, prints: Path) -> None:
    (prints / "notes.txt").write_text("just text")
    library.scan([prints], thumbnails=False)
    with pytest.raises(ThumbnailError, match=r"^empty\.stl: .*empty"):
        make_thumbnail(library, library.file(prints / "empty.stl"))
    with pytest.raises(ThumbnailError, match=r"notes\.txt: no embedded picture and nothing to draw"):
        thumbnail(library, prints / "notes.txt")


# --- hostile embedded pictures ---------------------------------------------------


def gcode_with_thumbnail(corpus: Path, png: bytes, declared: tuple[int, int], length: int | None = None) -> bytes:
    """mini_cube_a.gcode with its thumbnail blocks replaced by one carrying ``png``."""
    text = (corpus / "sliced" / "mini_cube_a.gcode").read_bytes()
    b64 = base64.b64encode(png).decode()
    lines = [b64[i : i + 78] for i in range(0, len(b64), 78)]
    block = "; thumbnail begin {}x{} {}\n{}\n; thumbnail end\n".format(
        declared[0], declared[1], len(b64) if length is None else length, "\n".join("; " + line for line in lines))
    return re.sub(rb"; thumbnail begin.*?; thumbnail end\n", b"", text, flags=re.S).replace(
        b"\n", b"\n" + block.encode(), 1)


def png_of(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("case", ["bomb", "wrong size", "bad base64"])
def test_hostile_embedded_picture_falls_back_to_a_render(tmp_path: Path, corpus: Path, case: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    if case == "bomb":
        data = gcode_with_thumbnail(corpus, png_of(Image.new("L", (6000, 6000))), (6000, 6000))
    elif case == "wrong size":
        data = gcode_with_thumbnail(corpus, png_of(Image.new("RGB", (16, 16))), (300, 300))
    else:
        data = gcode_with_thumbnail(corpus, png_of(Image.new("RGB", (16, 16))), (16, 16))
        data = data.replace(b"; iVBOR", b"; !!BOR", 1)
    (folder / "cube.gcode").write_bytes(data)
    with Library(tmp_path / "lib") as lib:
        lib.scan([folder])
        f = lib.file(folder / "cube.gcode")
        assert f.error is None and f.thumbnail
        rgba, text = png_info(f.thumbnail)
        assert text["printmanager-source"] == "rendered"
        assert_whole_and_not_blank(rgba, case)
        if case != "bad base64":  # bad base64 is refused (and reported) by the G-code reader
            problems = json.loads(text["printmanager-problems"])
            assert problems and ("pixel limit" in problems[0] or "declared as 300x300" in problems[0])
        else:
            assert any("base64" in p for p in f.problems)


def qoi_of(img: Image.Image) -> bytes:
    """QOI bytes (QOI_OP_RGBA chunks only: simple and valid by the spec)."""
    import struct

    rgba = np.asarray(img.convert("RGBA"))
    h, w = rgba.shape[:2]
    body = b"".join(b"\xff" + bytes(px) for px in rgba.reshape(-1, 4).tolist())
    return b"qoif" + struct.pack(">II", w, h) + bytes([4, 0]) + body + bytes([0] * 7 + [1])


@pytest.mark.parametrize("fmt", ["QOI", "JPG"])
def test_gcode_qoi_and_jpg_thumbnails(tmp_path: Path, corpus: Path, fmt: str) -> None:
    pic = Image.new("RGB", (48, 32), (20, 200, 60))
    if fmt == "QOI":
        data = qoi_of(pic)
    else:
        buf = io.BytesIO()
        pic.save(buf, format="JPEG", quality=95)
        data = buf.getvalue()
    gcode = gcode_with_thumbnail(corpus, data, (48, 32))
    gcode = gcode.replace(b"; thumbnail begin", f"; thumbnail_{fmt} begin".encode())
    gcode = gcode.replace(b"; thumbnail end", f"; thumbnail_{fmt} end".encode())
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "cube.gcode").write_bytes(gcode)
    with Library(tmp_path / "lib") as lib:
        lib.scan([folder], thumbnails=False)
        t = thumbnail(lib, folder / "cube.gcode", 96)
        assert t.source == "embedded" and t.detail == f"thumbnail-48x32.{fmt.lower()}"
        rgba, _ = png_info(t.path)
        assert tuple(rgba[48, 48]) == pytest.approx((20, 200, 60, 255), abs=6)
        assert rgba[5, 48, 3] == 0  # 48x32 fitted to 96x96: bands above and below


def test_gcode_3mf_plate_picture_then_toolpath(tmp_path: Path, corpus: Path) -> None:
    import zipfile

    gcode = (corpus / "sliced" / "cura_torus.gcode").read_bytes()
    plate = png_of(Image.new("RGB", (128, 128), (250, 250, 0)))
    folder = tmp_path / "in"
    folder.mkdir()
    for name, with_picture in (("with.gcode.3mf", True), ("without.gcode.3mf", False)):
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("Metadata/plate_1.gcode", gcode)
            if with_picture:
                zf.writestr("Metadata/plate_1.png", plate)
                zf.writestr("Metadata/plate_1_small.png", png_of(Image.new("RGB", (32, 32), (0, 0, 0))))
    with Library(tmp_path / "lib") as lib:
        lib.scan([folder], thumbnails=False)
        pictured = thumbnail(lib, folder / "with.gcode.3mf")
        assert pictured.source == "embedded" and pictured.detail == "plate_1.png"
        assert tuple(png_info(pictured.path)[0][128, 128]) == (250, 250, 0, 255)
        drawn = thumbnail(lib, folder / "without.gcode.3mf")
        assert drawn.source == "rendered" and drawn.detail.startswith("toolpath")
        assert_whole_and_not_blank(png_info(drawn.path)[0], "without.gcode.3mf")


# --- cache, scan, models -----------------------------------------------------------


def test_cache_keyed_by_content_and_size(library: Library, prints: Path) -> None:
    library.scan([prints], thumbnails=False)
    torus = prints / "torus.stl"
    assert library.file(torus).thumbnail is None
    first = thumbnail(library, torus)
    assert not first.cached and first.path.is_file()
    assert first.path.is_relative_to(library.directory / "thumbnails")
    assert library.file(torus).hash.split(":")[1] in first.path.name
    again = thumbnail(library, torus)
    assert again.cached and again.path == first.path
    big = thumbnail(library, torus, 512)
    assert big.path != first.path and (big.width, big.height) == (512, 512)
    assert library.file(torus).thumbnail == str(first.path)  # the file records the scan size
    # same content elsewhere shares the picture
    shutil.copyfile(torus, prints / "torus copy.stl")
    library.scan([prints], thumbnails=False)
    assert thumbnail(library, prints / "torus copy.stl").path == first.path
    with pytest.raises(ThumbnailError, match="size must be"):
        thumbnail(library, torus, 5000)


def test_scan_makes_thumbnails_and_remakes_them_only_on_change(tmp_path: Path, prints: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.scan([prints])
        wheel = lib.file(prints / "Benchy" / "Wheel.stl")
        assert wheel.thumbnail and Path(wheel.thumbnail).is_file()
        made_at = Path(wheel.thumbnail).stat().st_mtime_ns
        # a rescan with nothing changed makes nothing
        lib.scan([prints])
        assert Path(wheel.thumbnail).stat().st_mtime_ns == made_at
        # new content: a new picture, the old one pruned
        shutil.copyfile(prints / "torus.stl", prints / "Benchy" / "Wheel.stl")
        os.utime(prints / "Benchy" / "Wheel.stl", ns=(1, 1))
        lib.scan([prints])
        changed = lib.file(prints / "Benchy" / "Wheel.stl")
        assert changed.thumbnail and changed.thumbnail != wheel.thumbnail
        assert not Path(wheel.thumbnail).exists()
        # changed again, into something unreadable, during a scan without thumbnails:
        # the old picture is not shown for the new content
        (prints / "Benchy" / "Wheel.stl").write_bytes(b"solid nothing\nendsolid\n")
        lib.scan([prints], thumbnails=False)
        assert lib.file(prints / "Benchy" / "Wheel.stl").thumbnail is None
        # (that picture stays: torus.stl has the same content and shows it)
        assert lib.file(prints / "torus.stl").thumbnail == changed.thumbnail
        assert Path(changed.thumbnail).exists()


def test_scan_without_thumbnails_then_with(tmp_path: Path, prints: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.scan([prints], thumbnails=False)
        assert all(f.thumbnail is None for f in lib.files())
        assert not (lib.directory / "thumbnails").exists()
        lib.settings.set("thumbnails.on_scan", False)
        lib.scan([prints])
        assert lib.file(prints / "torus.stl").thumbnail is None
        lib.settings.set("thumbnails.on_scan", True)
        lib.settings.set("thumbnails.size", 128)
        lib.scan([prints])  # nothing changed, but files without a thumbnail get one
        made = lib.file(prints / "torus.stl").thumbnail
        assert made and "/128/" in made
        with Image.open(made) as im:
            assert im.size == (128, 128)


def test_model_thumbnail_prefers_the_sliced_picture(tmp_path: Path, prints: Path, corpus: Path) -> None:
    shutil.copyfile(corpus / "prusaslicer-shapes" / "box.stl", prints / "sliced" / "box.stl")
    with Library(tmp_path / "lib") as lib:
        lib.scan([prints], thumbnails=False)
        sliced = lib.file(prints / "sliced" / "box.stl").model_id
        best = model_thumbnail(lib, sliced)
        assert best is not None and best.source == "embedded"
        assert lib.file(best.file_id).format in SLICED_FORMATS
        benchy = lib.file(prints / "Benchy" / "Wheel.stl").model_id
        part = model_thumbnail(lib, benchy)
        assert part is not None and part.source == "rendered"
        largest = max(lib.model_files(benchy), key=lambda f: f.volume_mm3 or 0)
        assert part.file_id == largest.id


# --- command line -----------------------------------------------------------------


def pm(*args: str, library: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "printmanager_core", "--library", str(library), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_cli_thumbnail(tmp_path: Path, prints: Path) -> None:
    lib = tmp_path / "lib"
    assert pm("scan", str(prints), "--no-thumbnails", library=lib).returncode == 0
    ls = json.loads(pm("ls", "--json", library=lib).stdout)
    by_name = {Path(f["path"]).name: f for f in ls}
    assert by_name["torus.stl"]["thumbnail"] is None

    out = pm("thumbnail", str(by_name["mini_cube_b.bgcode"]["id"]), "--json", library=lib)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"path", "source", "width", "height", "seconds"}
    assert data["source"] == "embedded" and (data["width"], data["height"]) == (256, 256)
    assert isinstance(data["seconds"], float) and Path(data["path"]).is_file()

    target = tmp_path / "out" / "torus.png"
    out = pm("thumbnail", str(prints / "torus.stl"), "-o", str(target), "--size", "96", "--json", library=lib)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["path"] == str(target) and data["source"] == "rendered"
    with Image.open(target) as im:
        assert im.size == (96, 96)

    ls = json.loads(pm("ls", "--json", library=lib).stdout)
    assert {Path(f["path"]).name: f for f in ls}["mini_cube_b.bgcode"]["thumbnail"] == str(
        Path(json.loads(pm("thumbnail", str(by_name["mini_cube_b.bgcode"]["id"]), "--json",
                           library=lib).stdout)["path"]))

    bad = pm("thumbnail", str(prints / "empty.stl"), library=lib)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: empty.stl:")
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = pm("thumbnail", "99999", library=lib)
    assert missing.returncode == 1 and "no file 99999" in missing.stderr
    assert pm("thumbnail", "1", "--size", "4", library=lib).returncode == 2


def test_plugin_is_listed(tmp_path: Path) -> None:
    out = pm("plugins", "--json", library=tmp_path / "lib")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert {"make_thumbnail", "scan_finished", "register_commands"} <= set(rows["thumbnails"]["hooks"])
