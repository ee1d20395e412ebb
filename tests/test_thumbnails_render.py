"""The thumbnails plugin's pieces on their own: renderer, picture decoding, toolpaths, 3MF builds."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from printmanager_core.readers.base import EmbeddedImage, Source
from printmanager_thumbnails import render
from printmanager_thumbnails.geometry import load_triangles
from printmanager_thumbnails.images import (
    OPAQUE_REDUCING_GAP,
    REDUCING_GAP,
    ImageRejected,
    decode_image,
    fit_square,
    pick_largest,
)
from printmanager_thumbnails.render import RenderError, Style, View, render_triangles
from printmanager_thumbnails.picture import ThumbnailError
from printmanager_thumbnails.toolpath import extrusion_segments, segments_to_triangles

# --- helpers ----------------------------------------------------------------


def box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> np.ndarray:
    """An axis-aligned box as 12 triangles."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], dtype=np.float64)
    faces = [(0, 2, 1), (0, 3, 2), (4, 5, 6), (4, 6, 7), (0, 1, 5), (0, 5, 4),
             (1, 2, 6), (1, 6, 5), (2, 3, 7), (2, 7, 6), (3, 0, 4), (3, 4, 7)]
    return v[np.array(faces)]


def sphere(subdivisions: int, radius: float = 10.0) -> np.ndarray:
    """A geodesic sphere: 20 * 4**subdivisions triangles."""
    t = (1 + 5**0.5) / 2
    verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
             (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
             (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
             (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    v = np.array(verts, dtype=np.float64)
    tris = v[np.array(faces)]
    for _ in range(subdivisions):
        a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
        ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
        tris = np.concatenate([np.stack(t, axis=1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    tris /= np.linalg.norm(tris, axis=2, keepdims=True)
    return (tris * radius).astype(np.float32)


def alpha(img: Image.Image) -> np.ndarray:
    return np.asarray(img)[:, :, 3]


def foreground_box(img: Image.Image) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha(img))
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def project(tris: np.ndarray, size: int, margin: float) -> np.ndarray:
    """The renderer's documented projection: orthographic, projected box fitted and centred."""
    basis = View().basis()
    p = tris.reshape(-1, 3).astype(np.float64) @ basis
    lo, hi = p.min(axis=0), p.max(axis=0)
    extent = max(hi[0] - lo[0], hi[1] - lo[1])
    scale = size * (1 - 2 * margin) / extent
    xy = (p[:, :2] - (lo[:2] + hi[:2]) / 2) * scale + size / 2
    return xy.reshape(-1, 3, 2)


# --- renderer ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [
    box((0, 0, 0), (100, 2, 2)),        # a long rod along x
    box((0, 0, 0), (2, 2, 100)),        # a tall post
    box((-5, -5, 0), (5, 5, 0.2)),      # a thin plate
    box((1e5, 1e5, 1e5), (1e5 + 3, 1e5 + 1, 1e5 + 2)),  # far from the origin
])
def test_render_shows_the_whole_object_centred(shape: np.ndarray) -> None:
    img = render_triangles(shape, 128)
    assert img.size == (128, 128) and img.mode == "RGBA"
    x0, y0, x1, y1 = foreground_box(img)
    # inside the picture with a margin on every side: nothing cropped
    assert x0 >= 3 and y0 >= 3 and x1 <= 124 and y1 <= 124
    # scaled to fit: the longer side spans most of the picture
    assert max(x1 - x0, y1 - y0) >= 100
    # centred
    assert abs((x0 + x1) / 2 - 63.5) <= 2 and abs((y0 + y1) / 2 - 63.5) <= 2


def test_render_silhouette_matches_polygon_painter() -> None:
    tris = sphere(2)
    tris[:, :, 2] *= 1.6  # an egg, to make the silhouette less trivial
    tris = np.concatenate([tris, box((8, -3, -3), (25, 3, 3))])
    size = 200
    img = render_triangles(tris, size, style=Style(supersample=1, margin=0.05))
    mask = alpha(img) > 127
    ref = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(ref)
    for t in project(tris, size, 0.05):
        draw.polygon([tuple(p - 0.5) for p in t], fill=255)
    ref_mask = np.asarray(ref) > 127
    iou = (mask & ref_mask).sum() / (mask | ref_mask).sum()
    assert iou > 0.97, iou


def test_render_depth_test_not_drawing_order() -> None:
    back = box((-10, -10, -10), (10, 10, 10))
    front = box((-3, -30, -3), (3, -20, 3))  # in front of the big box (the camera is at -y)
    a = np.asarray(render_triangles(np.concatenate([back, front]), 96))
    b = np.asarray(render_triangles(np.concatenate([front, back]), 96))
    assert np.array_equal(a, b)


def test_render_nearer_face_wins() -> None:
    # Looking straight along +y: screen x is world x, depth is world y. Two squares over the
    # same screen area, the far one tilted so that its shade differs.
    view = View(azimuth_deg=0, elevation_deg=0)
    style = Style(supersample=1, outline=0)
    near = np.array([[[-5, 0, -5], [5, 0, -5], [5, 0, 5]], [[-5, 0, -5], [5, 0, 5], [-5, 0, 5]]], dtype=np.float32)
    far = near.copy()
    far[:, :, 1] = 10 + far[:, :, 0] * 0.8
    away = np.array([0, 200, 0], dtype=np.float32)  # moves a square behind the other; same projection

    def centre(*parts: np.ndarray) -> tuple[int, ...]:
        return tuple(np.asarray(render_triangles(np.concatenate(parts), 64, view=view, style=style))[32, 32])

    near_shade = centre(near, far + away)
    far_shade = centre(far, near + away)
    assert near_shade[:3] != far_shade[:3]
    assert centre(far, near) == near_shade
    assert centre(near, far) == near_shade


def test_render_dense_mesh_has_no_holes() -> None:
    tris = sphere(6)  # 81,920 triangles, most smaller than a pixel at 96 px
    img = render_triangles(tris, 96, style=Style(supersample=1))
    a = alpha(img)
    yy, xx = np.mgrid[0:96, 0:96]
    x0, y0, x1, y1 = foreground_box(img)
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    inside = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 < (0.92 * r) ** 2
    assert inside.sum() > 4000
    assert (a[inside] == 255).all(), "pinholes in a closed dense mesh"


def test_render_of_an_stl_read_in_place_is_the_same_picture(corpus: Path) -> None:
    # a binary STL's triangles come as a view of its 50-byte records (not contiguous): drawn
    # without a whole-mesh copy, the picture is the one of a contiguous copy, pixel for pixel
    tris = load_triangles(Source.from_path(corpus / "assimp" / "Spider_binary.stl"))
    assert tris.strides[0] == 50
    for size in (256, 64):
        viewed = np.asarray(render_triangles(tris, size))
        copied = np.asarray(render_triangles(np.ascontiguousarray(tris), size))
        assert (viewed == copied).all()


def test_render_reusing_the_measured_corners_looks_the_same(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the measuring pass keeps its view-space corners and the drawing pass only scales them;
    # projecting again (as for meshes past KEEP_VIEW_BYTES) differs only by float rounding
    from printmanager_thumbnails import render

    meshes = [sphere(6), load_triangles(Source.from_path(corpus / "3mf-samples" / "cube_gears_prod.3mf"))]
    kept = [np.asarray(render_triangles(t, 256)).astype(int) for t in meshes]
    monkeypatch.setattr(render, "KEEP_VIEW_BYTES", 0)
    projected = [np.asarray(render_triangles(t, 256)).astype(int) for t in meshes]
    for a, b in zip(kept, projected):
        assert alpha(Image.fromarray(a.astype(np.uint8))).sum() > 0
        diff = np.abs(a - b)
        assert diff.mean() < 0.02, diff.mean()
        assert (diff.max(axis=2) > 0).mean() < 0.002  # a few edge pixels at most


def test_importing_the_renderer_does_not_load_the_store() -> None:
    # a thumbnail in a fresh process pays for numpy and Pillow, not for the catalogue's
    # store (sqlite-utils) behind ``printmanager_core.Library``
    import subprocess
    import sys

    code = (
        "import sys; import printmanager_core.readers.base, printmanager_thumbnails.api; "
        "print(sorted(m for m in ('sqlite_utils', 'printmanager_core.library') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import printmanager_core

    assert printmanager_core.Library.__name__ == "Library"
    assert isinstance(printmanager_core.__version__, str) and printmanager_core.__version__


def test_render_shading_varies_and_background_option() -> None:
    img = render_triangles(sphere(3), 64, style=Style(background=(255, 255, 255)))
    arr = np.asarray(img)
    assert (arr[:, :, 3] == 255).all()
    assert tuple(arr[0, 0, :3]) == (255, 255, 255)
    lum = arr[20:44, 20:44, :3].mean(axis=2)
    assert lum.max() - lum.min() > 40  # lit, not flat


def test_render_refuses_nothing_to_draw() -> None:
    with pytest.raises(RenderError, match="no triangles"):
        render_triangles(np.zeros((0, 3, 3)), 64)
    with pytest.raises(RenderError, match="finite"):
        render_triangles(np.full((4, 3, 3), np.nan), 64)
    with pytest.raises(RenderError, match=r"\(n, 3, 3\)"):
        render_triangles(np.zeros((5, 2)), 64)


def test_render_drops_non_finite_triangles() -> None:
    tris = box((0, 0, 0), (10, 10, 10))
    bad = tris.copy()[:2]
    bad[0, 0, 0] = np.nan
    bad[1, 2, 1] = np.inf
    assert np.array_equal(np.asarray(render_triangles(np.concatenate([tris, bad]), 64)),
                          np.asarray(render_triangles(tris, 64)))


def test_render_huge_triangle_is_split_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # one triangle filling the picture, with small chunks so that it must be split
    import printmanager_thumbnails.render as render

    monkeypatch.setattr(render, "CHUNK_FRAGMENTS", 5_000)
    tri = np.array([[[0, 0, 0], [100, 0, 0], [0, 0, 100]]], dtype=np.float32)
    img = render_triangles(tri, 256, view=View(0, 0), style=Style(supersample=2, margin=0.0, outline=0))
    a = alpha(img).astype(np.int64)
    # half of the square is covered
    assert abs(a.sum() / 255 - 256 * 256 / 2) < 256 * 2
    monkeypatch.undo()
    assert np.array_equal(np.asarray(img), np.asarray(
        render_triangles(tri, 256, view=View(0, 0), style=Style(supersample=2, margin=0.0, outline=0))))


# --- pictures -----------------------------------------------------------------


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qoi_encode(img: Image.Image) -> bytes:
    """A minimal QOI encoder (QOI_OP_RGBA and QOI_OP_RUN only), written from the spec."""
    rgba = img.convert("RGBA")
    w, h = rgba.size
    out = bytearray(b"qoif" + struct.pack(">II", w, h) + bytes([4, 0]))
    prev = (0, 0, 0, 255)
    run = 0
    for px in map(tuple, np.asarray(rgba).reshape(-1, 4).tolist()):
        if px == prev:
            run += 1
            if run == 62:
                out.append(0xC0 | (run - 1))
                run = 0
            continue
        if run:
            out.append(0xC0 | (run - 1))
            run = 0
        out += bytes([0xFF, *px])
        prev = px
    if run:
        out.append(0xC0 | (run - 1))
    out += bytes([0] * 7 + [1])
    return bytes(out)


def test_decode_qoi_png_jpeg() -> None:
    src = Image.new("RGBA", (40, 30), (200, 100, 50, 255))
    ImageDraw.Draw(src).rectangle((5, 5, 20, 20), fill=(10, 220, 30, 128))
    qoi = decode_image(qoi_encode(src), "qoi", declared=(40, 30))
    assert qoi.size == (40, 30)
    assert np.array_equal(np.asarray(qoi), np.asarray(src))
    assert np.array_equal(np.asarray(decode_image(png_bytes(src), "png")), np.asarray(src))
    buf = io.BytesIO()
    src.convert("RGB").save(buf, format="JPEG")
    assert decode_image(buf.getvalue(), "jpg").size == (40, 30)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a canvas and carries no pixels (how a bomb's header looks)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decode_refuses_decompression_bombs() -> None:
    # 100000x100000 declared: Pillow's own bomb check, caught and reworded
    with pytest.raises(ImageRejected, match="decompression bomb"):
        decode_image(png_header_only(100_000, 100_000), "png")
    # 5000x5000: under Pillow's limit, over ours; refused before any pixel is decoded
    with pytest.raises(ImageRejected, match="pixel limit"):
        decode_image(png_header_only(5000, 5000), "png")
    # QOI is decoded in Python by Pillow: a lower limit keeps a big one from stalling a scan
    qoi_header = b"qoif" + struct.pack(">II", 2000, 2000) + bytes([4, 0]) + bytes([0xC0 | 61]) * 10 + bytes(7) + b"\x01"
    with pytest.raises(ImageRejected, match="1048576-pixel limit"):
        decode_image(qoi_header, "qoi")
    # a real one: 5000x5000 of zeros compresses to a few kilobytes
    big = png_bytes(Image.new("L", (5000, 5000)))
    assert len(big) < 100_000
    with pytest.raises(ImageRejected, match="pixel limit"):
        decode_image(big, "png")


def test_decode_refuses_lies_and_junk() -> None:
    small = png_bytes(Image.new("RGB", (16, 16), (1, 2, 3)))
    with pytest.raises(ImageRejected, match="16x16 but is declared as 300x300"):
        decode_image(small, "png", declared=(300, 300))
    with pytest.raises(ImageRejected, match="not a PNG"):
        decode_image(b"GIF89a not really", "png")
    with pytest.raises(ImageRejected, match="damaged|cannot be read"):
        decode_image(small[:60], "png")
    with pytest.raises(ImageRejected, match="empty"):
        decode_image(b"", "png")


def test_pick_largest_skips_refused_pictures() -> None:
    good_small = png_bytes(Image.new("RGB", (16, 16), (255, 0, 0)))
    good_big = png_bytes(Image.new("RGB", (64, 48), (0, 255, 0)))
    liar = EmbeddedImage(width=400, height=400, format="png", data=good_small, name="liar.png")
    picked, problems = pick_largest([
        EmbeddedImage(16, 16, "png", good_small, "small.png"),
        liar,
        EmbeddedImage(64, 48, "png", good_big, "big.png"),
    ])
    assert picked is not None and picked.embedded.name == "big.png"
    assert problems and "liar.png" in problems[0]
    nothing, why = pick_largest([liar])
    assert nothing is None and "declared as 400x400" in why[0]


def test_fit_square_keeps_aspect() -> None:
    out = fit_square(Image.new("RGB", (220, 124), (255, 0, 0)), 256)
    assert out.size == (256, 256)
    a = alpha(out)
    assert a[128, 128] == 255 and a[2, 128] == 0 and a[253, 128] == 0



@pytest.mark.parametrize("size", [(1025, 827), (300, 700), (513, 513)])
def test_fit_square_of_an_opaque_picture_is_the_rgba_resize(size: tuple[int, int]) -> None:
    # opaque pictures are resized as RGB: the very pixels Pillow's (premultiplied) RGBA resize gives
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    pixels[..., 3] = 255
    picture = Image.fromarray(pixels, "RGBA")
    out = fit_square(picture, 256)
    scale = 256 / max(size)
    nw, nh = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    reference = picture.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=OPAQUE_REDUCING_GAP)
    box = ((256 - nw) // 2, (256 - nh) // 2)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.crop((*box, box[0] + nw, box[1] + nh))), np.asarray(reference))
    # a picture with any transparency keeps the RGBA resize (colours weighted by coverage)
    pixels[0, 0, 3] = 0
    seethrough = Image.fromarray(pixels, "RGBA")
    reference = seethrough.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    out = fit_square(seethrough, 256)
    assert np.array_equal(np.asarray(out.crop((*box, box[0] + nw, box[1] + nh))), np.asarray(reference))


def _torus(triangles: int) -> np.ndarray:
    """A rippled torus of about ``triangles`` triangles (curved shading, edges at every angle)."""
    nv = int(round((triangles / 4) ** 0.5))
    nu = triangles // (2 * nv)
    uu, vv = np.meshgrid(np.linspace(0, 2 * np.pi, nu, endpoint=False), np.linspace(0, 2 * np.pi, nv, endpoint=False),
                         indexing="ij")
    r = 12 + 1.5 * np.sin(9 * uu) * np.cos(5 * vv)
    pts = np.stack([(40 + r * np.cos(vv)) * np.cos(uu), (40 + r * np.cos(vv)) * np.sin(uu), r * np.sin(vv)], axis=-1)
    i1, j1 = (np.arange(nu) + 1) % nu, (np.arange(nv) + 1) % nv
    a, b, c, d = pts, pts[i1], pts[i1][:, j1], pts[:, j1]
    quads = [np.stack(corners, axis=2).reshape(-1, 3, 3) for corners in ((a, b, c), (a, c, d))]
    return np.concatenate(quads).astype(np.float32)


@pytest.mark.parametrize("edge", [1025, 1200, 777])
def test_fit_square_of_an_opaque_picture_is_close_to_the_fair_lanczos_resize(edge: int) -> None:
    # the opaque fit's smaller reducing_gap stays close to a fair (unreduced) Lanczos resize: 49 dB
    # PSNR and more here (reducing_gap=2.0 gives 55 dB at 1200 px, where it reduces 2×2 and this
    # 3×3; 45 dB is far below what one can see); a rendered mesh on white, as a slicer's picture is
    picture = render_triangles(_torus(20_000), edge, style=Style(background=(255, 255, 255)))
    out = np.asarray(fit_square(picture, 256).convert("RGB")).astype(np.float64)
    fair = np.asarray(picture.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)).astype(np.float64)

    def psnr(a: np.ndarray) -> float:
        mse = float(((a - fair) ** 2).mean())
        return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)

    assert psnr(out) >= 45.0
    assert np.abs(out - fair).max() <= 24


# --- toolpaths ------------------------------------------------------------------

GCODE = b"""; generated for the test
G90
M83
G1 X0 Y-3 Z0.3 F1000
G1 X60 E9 ; purge line before the first layer
;LAYER_CHANGE
;Z:0.2
;TYPE:Skirt/Brim
G1 X5 Y5 E1
;TYPE:External perimeter
G0 X10 Y10 Z0.2
G1 X20 Y10 E0.5
G1 X20 Y20 E0.5
G1 E-0.8 ; retract
G0 X10 Y20
G1 E0.8
G1 X10 Y10 E0.5
;LAYER_CHANGE
G1 Z0.4
G91
G1 X10 E0.5
G90
"""


def test_toolpath_keeps_only_the_objects_extrusions() -> None:
    segs = extrusion_segments(io.BytesIO(GCODE))
    # purge line, skirt, travel and retraction left out; relative moves (G91) followed
    assert np.allclose(segs[:, 1], [(20, 10, 0.2), (20, 20, 0.2), (10, 10, 0.2), (20, 10, 0.4)])
    assert np.allclose(segs[0, 0], (10, 10, 0.2)) and np.allclose(segs[3, 0], (10, 10, 0.4))
    tris = segments_to_triangles(segs)
    assert tris.shape == (24, 3, 3)
    with pytest.raises(ThumbnailError, match="no extrusion"):
        segments_to_triangles(extrusion_segments(io.BytesIO(b"G28\nG1 X10 Y10\n")))


def test_toolpath_of_a_real_slice(corpus: Path) -> None:
    tris = load_triangles(Source.from_path(corpus / "sliced" / "cura_torus.gcode"))
    # the torus is about 28 mm across in the middle of the bed; the skirt is left out
    lo, hi = tris.reshape(-1, 3).min(axis=0), tris.reshape(-1, 3).max(axis=0)
    assert 20 < hi[0] - lo[0] < 40 and 20 < hi[1] - lo[1] < 40


# --- 3MF builds ------------------------------------------------------------------


def make_3mf(model_xml: str | bytes, extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("_rels/.rels", (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Target="/3D/3dmodel.model" Id="r0" '
            'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'))
        zf.writestr("3D/3dmodel.model", model_xml)
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return buf.getvalue()


TRI_OBJECT = """<object id="{id}" type="model"><mesh><vertices>
<vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/><vertex x="0" y="10" z="0"/>
</vertices><triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh></object>"""


def threemf_triangles(data: bytes) -> np.ndarray:
    """The 3MF reader's build triangles, as the thumbnailer loads them."""
    return load_triangles(Source.from_bytes("t.3mf", data))


def test_3mf_build_applies_component_and_item_transforms() -> None:
    xml = f"""<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
<resources>{TRI_OBJECT.format(id=1)}
<object id="2" type="model"><components><component objectid="1" transform="1 0 0 0 1 0 0 0 1 100 0 0"/>
<component objectid="1"/></components></object></resources>
<build><item objectid="2" transform="2 0 0 0 2 0 0 0 2 0 0 5"/></build></model>"""
    tris = threemf_triangles(make_3mf(xml))
    assert tris.shape == (2, 3, 3)
    xs = sorted(float(tris[i, 1, 0]) for i in range(2))
    assert xs == [20.0, 220.0]  # (10 + 100) * 2 and 10 * 2
    assert float(tris[0, 0, 2]) == 5.0


def test_3mf_refuses_a_cycle_and_bad_indices() -> None:
    cyclic = """<model xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><resources>
<object id="1"><components><component objectid="1"/></components></object></resources>
<build><item objectid="1"/></build></model>"""
    with pytest.raises(ThumbnailError, match="contains itself"):
        threemf_triangles(make_3mf(cyclic))
    bad = TRI_OBJECT.format(id=1).replace('v3="2"', 'v3="7"')
    xml = ('<model xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><resources>'
           f'{bad}</resources><build><item objectid="1"/></build></model>')
    with pytest.raises(ThumbnailError, match="naming vertex 7"):
        threemf_triangles(make_3mf(xml))


def test_3mf_entity_expansion_is_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            '<model xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">&lol2;</model>')
    for text in (bomb, bomb.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')):
        data = text.encode("utf-16") if "UTF-16" in text else text.encode()
        with pytest.raises(ThumbnailError, match="entity declarations are not allowed"):
            threemf_triangles(make_3mf(data))


# --- PNG writing ----------------------------------------------------------------


@pytest.mark.parametrize("size", [(256, 256), (1, 1), (7, 300)])
def test_encode_png_is_lossless_and_keeps_text(size: tuple[int, int]) -> None:
    from printmanager_thumbnails.picture import encode_png

    pixels = np.random.default_rng(5).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    text = {"printmanager-source": "rendered", "detail": "Plättchen ☃", "empty": ""}
    data = encode_png(Image.fromarray(pixels, "RGBA"), text)
    with Image.open(io.BytesIO(data), formats=["PNG"]) as back:
        back.load()
        assert back.mode == "RGBA" and back.size == size
        assert np.array_equal(np.asarray(back), pixels)
        assert back.text == text
    # other modes go through Pillow, text and all
    rgb = Image.fromarray(pixels[..., :3], "RGB")
    with Image.open(io.BytesIO(encode_png(rgb, {"k": "v"})), formats=["PNG"]) as back:
        back.load()
        assert back.mode == "RGB" and np.array_equal(np.asarray(back), pixels[..., :3]) and back.text == {"k": "v"}


def _compose_reference(zbuf: np.ndarray, w: int, size: int, ss: int, style: "render.Style") -> np.ndarray:
    """The final composite written plainly: colour table per sample, block sums, float32 division."""
    hit = zbuf != render._EMPTY
    idx = (zbuf & 0xFF).astype(np.uint16)
    if style.outline > 0:
        idx[render._depth_edges(zbuf, w).reshape(-1)] += 256
    idx[~hit] = 512
    canvas = render._colour_table(style, ss > 1)[idx].view(np.uint8).reshape(w, w, 4)
    if ss == 1:
        return canvas
    acc = canvas.reshape(size, ss, size, ss, 4).sum(axis=(1, 3), dtype=np.uint16)
    n = ss * ss
    out = np.empty((size, size, 4), dtype=np.uint8)
    if style.background is None:
        k = acc[..., 3]
        recip = np.array([0.0] + [1.0 / i for i in range(1, n + 1)], dtype=np.float32)
        out[..., :3] = acc[..., :3] * recip[k][..., None] + np.float32(0.5)
        out[..., 3] = (np.arange(n + 1) * 255 / n + 0.5).astype(np.uint8)[k]
    else:
        out[..., :3] = acc[..., :3] * np.float32(1.0 / n) + np.float32(0.5)
        out[..., 3] = 255
    return out


@pytest.mark.parametrize("ss", [1, 2, 3, 4])
@pytest.mark.parametrize("background", [None, (250, 240, 230)])
def test_compose_matches_the_plain_composite(ss: int, background: tuple[int, int, int] | None) -> None:
    # random depths and shades, a third of the samples empty: every coverage count and colour sum occurs
    size = 24
    w = size * ss
    rng = np.random.default_rng(ss)
    keys = (rng.integers(0, 2**render._DEPTH_BITS, w * w, dtype=np.int64) << 8) | rng.integers(0, 256, w * w)
    keys[rng.random(w * w) < 0.33] = render._EMPTY
    style = render.Style(supersample=ss, background=background)
    got = np.asarray(render._compose(keys, w, size, ss, style))
    assert np.array_equal(got, _compose_reference(keys, w, size, ss, style))


def test_pictures_in_a_fresh_process_reuse_freed_memory_instead_of_faulting_it_in() -> None:
    # a process that has freed no big block yet: without render._keep_freed_memory, ten 256 px
    # pictures of 20,000 triangles fault in about 29,000 fresh pages (the allocator hands the
    # temporaries' memory back to the system after each one); with it, a handful
    code = (
        "import resource, sys\n"
        "import numpy as np\n"
        "from printmanager_thumbnails import render\n"
        "if sys.argv[1] == 'off':\n"
        "    render._kept_freed = 1 << 62\n"
        "tris = (np.random.default_rng(3).random((20000, 3, 3)) * 50).astype(np.float32)\n"
        "for _ in range(2): render.render_triangles(tris, 256)\n"
        "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(10): render.render_triangles(tris, 256)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)\n"
    )
    if sys.platform != "linux":
        pytest.skip("glibc's allocator thresholds, counted by getrusage")
    faults = {mode: int(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("on", "off")}  # fmt: skip
    assert faults["off"] > 5000  # the regime the hint is for is real here
    assert faults["on"] < 1000
