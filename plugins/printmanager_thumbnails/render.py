"""A CPU renderer for triangle meshes: numpy z-buffer, Pillow for the image.

No GPU, no display, no OpenGL. The whole mesh is drawn from a three-quarter view
with an orthographic camera, centred and scaled so that every vertex lands
inside the picture (nothing is cropped), flat-shaded with two lights and an
ambient term, and correctly occluded by a per-pixel depth test.

How it stays fast (a 1.3M-triangle mesh at 256 px in about 0.15 s on one core):
every step is a numpy operation over many triangles at once, in chunks of
:data:`CHUNK_TRIANGLES` so the working set stays in cache. Each triangle becomes
*fragments* — (pixel, depth, shade) — and ``np.minimum.at`` over a packed 64-bit
key (depth in the high bits, shade in the low byte) keeps the nearest fragment
of every pixel, whatever the drawing order:

* a triangle covering at most two pixel centres becomes one fragment at its
  centre (dense scans and sculpts are almost all such triangles), so sub-pixel
  triangles never leave holes;
* one whose bounding box holds at most 2×2 pixel centres is tested at those
  four centres;
* a larger one is scan-converted: for each of its pixel rows the span of pixel
  centres inside it is solved for, so only covered pixels are generated, in
  pieces of at most :data:`CHUNK_FRAGMENTS` fragments however large it is.

The image is drawn at ``supersample`` times the size and averaged down, which
anti-aliases the edges; the background is transparent unless one is given.
"""

from __future__ import annotations

import math
import sys
from typing import Iterator, Sequence

import attrs
import numpy as np
from PIL import Image

from printmanager_core import budget

__all__ = ["RenderError", "Style", "View", "render_triangles"]

#: triangles set up at once (small enough for the working set to stay in cache)
CHUNK_TRIANGLES = 32_768
#: triangles the scan converter sets up at once, (triangle, pixel row) pairs it solves at
#: once, and fragments it generates at once: each temporary array of 8-byte numbers stays
#: under 128 KiB, below which the C allocator reuses memory instead of mapping it anew
#: (see :func:`_cover_spans`)
CHUNK_SPAN_TRIANGLES = 16_000
CHUNK_ROWS = 16_000
CHUNK_FRAGMENTS = 16_000
#: the measuring pass keeps the view-space corners for drawing when they take at most this
#: many bytes (the size of a contiguous float32 copy of 1.8M triangles); larger meshes are
#: projected again
KEEP_VIEW_BYTES = 64 * 1024 * 1024
#: the supersampled canvas is at most this many pixels wide (bounds memory for big sizes)
MAX_CANVAS = 2048
#: most scanline rows + covered pixels one picture may take (about 10-30 ns each): past
#: it (heavy overdraw: many large overlapping triangles) the picture is drawn smaller and
#: scaled up, or refused. A real mesh at 512 px takes well under a million.
MAX_WORK = 1_500_000
#: a picture is not drawn smaller than this many pixels wide to stay within MAX_WORK
MIN_CANVAS = 32
#: depth bits in the packed z-buffer key (the low 8 bits hold the shade)
_DEPTH_BITS = 40
_EMPTY = np.iinfo(np.int64).max
_ZMAX = float(2**_DEPTH_BITS - 1)


class RenderError(Exception):
    """The triangles cannot be drawn (none, or none with finite coordinates)."""


@attrs.frozen
class View:
    """Where the camera is: around the model (azimuth) and above it (elevation).

    The model is taken to be Z-up, as 3D-printing files are. Azimuth 0 looks from
    the front (-Y) towards the back; positive azimuth moves the camera to the right.
    """

    azimuth_deg: float = 35.0
    elevation_deg: float = 28.0

    def basis(self) -> np.ndarray:
        """The 3×3 matrix whose columns are screen right, screen down, and depth (into the screen)."""
        a = math.radians(self.azimuth_deg)
        e = math.radians(self.elevation_deg)
        to_camera = np.array([math.cos(e) * math.sin(a), -math.cos(e) * math.cos(a), math.sin(e)])
        forward = -to_camera
        up = np.array([0.0, 0.0, 1.0])
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        cam_up = np.cross(right, forward)
        return np.stack([right, -cam_up, forward], axis=1)


@attrs.frozen
class Style:
    """How the picture looks.

    :ivar color: the model's RGB colour.
    :ivar background: RGB background, or None for a transparent one.
    :ivar margin: empty border on each side, as a fraction of the size.
    :ivar supersample: drawn at this many times the size, then averaged down
        (less for big sizes: the canvas is at most :data:`MAX_CANVAS` wide).
    :ivar ambient: light that reaches every face.
    :ivar outline: darken pixels where the depth jumps (creases and overlaps), 0..1.
    """

    color: tuple[int, int, int] = (74, 144, 226)
    background: tuple[int, int, int] | None = None
    margin: float = attrs.field(default=0.06)
    supersample: int = attrs.field(default=2)
    ambient: float = 0.28
    outline: float = 0.35

    @margin.validator
    def _check_margin(self, attribute: object, value: float) -> None:
        if not 0 <= value < 0.5:
            raise ValueError("margin must be in [0, 0.5)")

    @supersample.validator
    def _check_supersample(self, attribute: object, value: int) -> None:
        if not 1 <= value <= 4:
            raise ValueError("supersample must be 1..4")


DEFAULT_VIEW = View()
DEFAULT_STYLE = Style()

# Lights in screen space (x right, y down, z into the screen), pointing towards the light.
_KEY = np.array([-0.45, -0.65, -0.62], dtype=np.float32)
_KEY /= np.linalg.norm(_KEY)
_FILL = np.array([0.7, -0.1, -0.7], dtype=np.float32)
_FILL /= np.linalg.norm(_FILL)


def _clip(values: np.ndarray, low: float, high: float) -> None:
    """``np.clip(values, low, high, out=values)`` as two ufunc calls: the same numbers, without
    np.clip's wrapper (about 15 µs a call, and a small picture makes dozens)."""
    np.maximum(values, low, out=values)
    np.minimum(values, high, out=values)


#: the most :func:`_keep_freed_memory` asks the allocator to keep (glibc's own ceiling for it)
KEEP_FREED_MAX = 32 * 1024 * 1024
#: the least it asks for: what a 256 px picture's temporaries churn through
KEEP_FREED_MIN = 8 * 1024 * 1024
_kept_freed = 0


def _keep_freed_memory(canvas_bytes: int) -> None:
    """Let the C allocator keep, for reuse, the memory a picture's temporaries free.

    A picture makes canvas-sized temporaries (the 2 MB z-buffer of a 256 px picture, its
    composite's arrays) and the span rasteriser's pieces, over and over. A process that has
    freed no big block yet runs glibc's defaults: blocks from 128 KiB are mapped afresh,
    and freed memory at the top of the heap past 128 KiB is handed back to the system, so
    every picture faults its pages in (and the system zeroes them) again, which took more
    time than drawing: 23 against 12 ms CPU for a 20,000-triangle mesh at 256 px. glibc
    raises both thresholds itself when a mapped block is freed (to its size, and twice
    that), so one block of about four canvases (8-32 MB), allocated and freed untouched
    (no page of it is ever faulted in), puts the process where any process that has freed
    a big array already is. Other allocators ignore it. Done once per larger canvas.
    """
    global _kept_freed
    want = min(max(4 * canvas_bytes, KEEP_FREED_MIN), KEEP_FREED_MAX)
    if want > _kept_freed:
        _kept_freed = want
        del_me = np.empty(want, dtype=np.uint8)
        del del_me


def _as_triangles(triangles: np.ndarray | Sequence[float]) -> np.ndarray:
    tri = np.asarray(triangles, dtype=np.float32)
    if tri.size == 0:
        raise RenderError("the mesh has no triangles")
    if tri.ndim != 3 or tri.shape[1:] != (3, 3):
        if tri.size % 9:
            raise RenderError(f"triangles must be an (n, 3, 3) array, not {tri.shape}")
        tri = tri.reshape(-1, 3, 3)
    if tri.strides[1:] == (12, 4):
        # each triangle's nine numbers are contiguous (a binary STL's records, viewed in place):
        # :func:`_chunks` transposes a chunk at a time anyway, so no whole-mesh copy is made
        return tri
    return np.ascontiguousarray(tri)


def _corner_matrix(basis: np.ndarray, scale: tuple[float, float, float]) -> np.ndarray:
    """A 9×9 matrix taking a triangle's corners (x0 y0 z0 x1 … z2) to view space
    ordered by axis then corner (X0 X1 X2 Y0 … Z2), each axis multiplied by ``scale``."""
    m = np.zeros((9, 9), dtype=np.float64)
    for axis in range(3):
        for corner in range(3):
            m[axis * 3 + corner, corner * 3 : corner * 3 + 3] = basis[:, axis] * scale[axis]
    return m.astype(np.float32)


def _chunks(tri: np.ndarray, m: np.ndarray) -> Iterator[np.ndarray]:
    """View-space corners of ``tri`` in chunks: ``(9, c)`` arrays, one contiguous row per
    axis and corner. Triangles with a NaN or infinite coordinate are dropped."""
    flat = tri.reshape(-1, 9)
    for start in range(0, len(flat), CHUNK_TRIANGLES):
        # elementwise rather than a BLAS matmul: BLAS would spread this small product
        # over every core, and the renderer is meant to use one
        src = np.ascontiguousarray(flat[start : start + CHUNK_TRIANGLES].T)
        p = np.empty_like(src)
        for row in range(9):
            cols = np.flatnonzero(m[row])
            if len(cols) == 0:
                p[row] = 0
                continue
            np.multiply(src[cols[0]], m[row, cols[0]], out=p[row])
            for col in cols[1:]:
                p[row] += src[col] * m[row, col]
        if not math.isfinite(float(p.sum())):  # rare: find and drop the bad triangles
            p = np.ascontiguousarray(p[:, np.isfinite(p).all(axis=0)])
        if p.shape[1]:
            yield p


def _bounds(tri: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Min and max of the view-space coordinates: ``[[xlo, ylo, zlo], [xhi, yhi, zhi]]``."""
    return _measure(tri, basis)[0]


def _measure(
    tri: np.ndarray, basis: np.ndarray, keep: list[np.ndarray] | None = None
) -> tuple[np.ndarray, float, float]:
    """One pass over the triangles in view space: the bounds (as :func:`_bounds`), and the
    summed screen heights and screen areas of the triangles, in view units (see :class:`_Cost`).

    :param keep: if given, the view-space chunks are appended to it (for :func:`_render`).
    """
    m = _corner_matrix(basis, (1.0, 1.0, 1.0))
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    rows = area = 0.0
    for p in _chunks(tri, m):
        if keep is not None:
            keep.append(p)
        q = p.reshape(3, -1)
        lo = np.minimum(lo, q.min(axis=1))
        hi = np.maximum(hi, q.max(axis=1))
        x0, x1, x2, y0, y1, y2 = p[0], p[1], p[2], p[3], p[4], p[5]
        height = np.maximum(np.maximum(y0, y1), y2) - np.minimum(np.minimum(y0, y1), y2)
        rows += float(height.sum(dtype=np.float64))
        twice = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        area += float(np.abs(twice).sum(dtype=np.float64)) / 2
        budget.check()
    if not np.isfinite(lo).all() or not np.isfinite(hi).all():
        raise RenderError("the mesh has no triangles with finite coordinates")
    return np.stack([lo, hi]), rows, area


def _shade(
    dx1: np.ndarray, dy1: np.ndarray, dz1: np.ndarray,
    dx2: np.ndarray, dy2: np.ndarray, dz2: np.ndarray,
    ambient: float,
) -> np.ndarray:
    """Per-triangle brightness 0..255 from two view-space edge vectors per triangle.

    Two-sided: every face is lit as if it faced the camera, so open meshes and
    inconsistent winding (common in STL files) still look right.
    """
    nx = dy1 * dz2 - dz1 * dy2
    ny = dz1 * dx2 - dx1 * dz2
    nz = dx1 * dy2 - dy1 * dx2
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    # face the camera (z grows into the screen): flip where nz > 0; zero-area faces get ambient only
    flip = np.where(nz > 0, np.float32(-1), np.float32(1))
    inv = np.divide(flip, norm, out=np.zeros_like(norm), where=norm > 0)
    nx *= inv
    ny *= inv
    nz *= inv
    key = nx * _KEY[0] + ny * _KEY[1] + nz * _KEY[2]
    fill = nx * _FILL[0] + ny * _FILL[1] + nz * _FILL[2]
    np.maximum(key, 0, out=key)
    np.maximum(fill, 0, out=fill)
    light = np.float32(ambient) + np.float32(1 - ambient) * (np.float32(0.78) * key + np.float32(0.32) * fill)
    return np.clip(light * np.float32(255.0), 0, 255).astype(np.int64)


def render_triangles(
    triangles: np.ndarray | Sequence[float],
    size: int = 256,
    *,
    view: View = DEFAULT_VIEW,
    style: Style = DEFAULT_STYLE,
) -> Image.Image:
    """Draw a triangle mesh and return a ``size``×``size`` RGBA image.

    :param triangles: an ``(n, 3, 3)`` array of triangle corners (any float type);
        triangles with NaN or infinite coordinates are skipped.
    :param size: edge length of the square picture in pixels.
    :param view: the camera direction.
    :param style: colours, margin, anti-aliasing.
    :raises RenderError: nothing drawable.
    """
    if size < 1:
        raise RenderError("size must be at least 1 pixel")
    tri = _as_triangles(triangles)
    ss = max(1, min(style.supersample, MAX_CANVAS // size))
    _keep_freed_memory((size * ss) ** 2 * 8)
    basis = view.basis()
    # the measuring pass keeps its view-space corners for drawing, up to KEEP_VIEW_BYTES
    keep: list[np.ndarray] | None = [] if tri.size * 4 <= KEEP_VIEW_BYTES else None
    bounds, rows, area = _measure(tri, basis, keep)
    cost = _Cost.scaled(len(tri), bounds, rows, area, style.margin)
    if cost.at(size * ss) > MAX_WORK:
        unique = _unique_triangles(tri)  # copies of one triangle add work, not picture
        if len(unique) < len(tri):
            tri = unique
            keep = None
            _, rows, area = _measure(tri, basis)
            cost = _Cost.scaled(len(tri), bounds, rows, area, style.margin)
    canvas = cost.widest(size * ss)
    if canvas < min(size, MIN_CANVAS):
        raise RenderError(
            f"the mesh is too costly to draw: about {cost.at(min(size, MIN_CANVAS)):.3g} pixel operations even at "
            f"{min(size, MIN_CANVAS)} px (many large overlapping triangles; the limit is {MAX_WORK:.3g})"
        )
    if canvas >= size * ss:
        return _render(tri, size, ss, basis, bounds, style, keep)
    if canvas > size:  # less supersampling than asked: draw at the canvas width and shrink
        wide = _render(tri, canvas, 1, basis, bounds, style, keep)
        return wide.resize((size, size), Image.Resampling.BOX)
    # too much overdraw for the full size: draw smaller and scale up (a softer picture, in bounded time)
    small = _render(tri, canvas, 1, basis, bounds, style, keep)
    return small.resize((size, size), Image.Resampling.BILINEAR)


def _render(
    tri: np.ndarray, size: int, ss: int, basis: np.ndarray, bounds: np.ndarray, style: Style,
    view: list[np.ndarray] | None = None,
) -> Image.Image:
    """Draw ``tri`` on a ``size * ss`` canvas and compose it; ``view``, if given, holds the
    view-space chunks of :func:`_measure` (used up here), which are only scaled and shifted
    instead of being projected again."""
    w = size * ss
    (xlo, ylo, zlo), (xhi, yhi, zhi) = bounds

    # Orthographic fit of the projected bounding box, centred: every corner lands
    # inside the picture, so nothing is cropped. Depth is normalised to 0..1.
    extent = max(xhi - xlo, yhi - ylo)
    usable = w * (1 - 2 * style.margin)
    scale = usable / extent if extent > 0 else 1.0
    depth = (zhi - zlo) or 1.0
    m = _corner_matrix(basis, (scale, scale, 1.0 / depth))
    shift = np.repeat(
        np.array([w / 2 - scale * (xlo + xhi) / 2, w / 2 - scale * (ylo + yhi) / 2, -zlo / depth]), 3
    ).astype(np.float32)[:, None]
    # shading needs depth back in pixel units (the same scale as x and y)
    zscale = float(depth * scale)
    zbuf = np.full(w * w, _EMPTY, dtype=np.int64)
    chunks = _chunks(tri, m) if view is None else _rescaled(view, scale, 1.0 / depth)
    for p in chunks:
        p += shift
        _draw(p, zbuf, w, style.ambient, zscale)
        budget.check()
    return _compose(zbuf, w, size, ss, style)


def _rescaled(view: list[np.ndarray], xy: float, z: float) -> Iterator[np.ndarray]:
    """The view-space chunks of :func:`_measure`, scaled in place (x and y by ``xy``, depth
    by ``z``) and released one by one."""
    view.reverse()
    fxy, fz = np.float32(xy), np.float32(z)
    while view:
        p = view.pop()
        p[:6] *= fxy
        p[6:] *= fz
        yield p


class _Cost:
    """What drawing costs beyond the per-triangle set-up at a canvas width ``w``:
    ``rows * w + area * w**2`` pixel operations (scanline rows and covered pixels, measured
    with the picture one unit wide). The set-up is linear in the triangles and is not bounded here.

    (A plain class: an attrs class costs about a millisecond to create at import.)"""

    __slots__ = ("triangles", "rows", "area")

    def __init__(self, triangles: int, rows: float, area: float) -> None:
        self.triangles = triangles
        self.rows = rows
        self.area = area

    @classmethod
    def of(cls, tri: np.ndarray, basis: np.ndarray, bounds: np.ndarray, margin: float) -> "_Cost":
        (xlo, ylo, _), (xhi, yhi, _) = bounds
        extent = max(xhi - xlo, yhi - ylo)
        scale = (1 - 2 * margin) / extent if extent > 0 else 1.0
        m = _corner_matrix(basis, (scale, scale, 0.0))
        rows = area = 0.0
        for p in _chunks(tri, m):
            x0, x1, x2, y0, y1, y2 = p[0], p[1], p[2], p[3], p[4], p[5]
            height = np.maximum(np.maximum(y0, y1), y2) - np.minimum(np.minimum(y0, y1), y2)
            rows += float(height.sum(dtype=np.float64))
            twice = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            area += float(np.abs(twice).sum(dtype=np.float64)) / 2
            budget.check()
        return cls(len(tri), rows, area)

    @classmethod
    def scaled(cls, triangles: int, bounds: np.ndarray, rows: float, area: float, margin: float) -> "_Cost":
        """The cost from :func:`_measure`'s sums in view units (rows scale with the width, area with its square)."""
        (xlo, ylo, _), (xhi, yhi, _) = bounds
        extent = max(xhi - xlo, yhi - ylo)
        scale = (1 - 2 * margin) / extent if extent > 0 else 1.0
        return cls(triangles, rows * scale, area * scale * scale)

    def at(self, w: int) -> float:
        """Pixel operations at canvas width ``w``."""
        return self.rows * w + self.area * w * w

    def widest(self, w: int) -> int:
        """The widest canvas up to ``w`` whose cost is within :data:`MAX_WORK` (0 if none)."""
        if self.at(w) <= MAX_WORK:
            return w
        left = float(MAX_WORK)
        if self.area > 0:  # solve area * w^2 + rows * w = left
            best = (-self.rows + math.sqrt(self.rows * self.rows + 4 * self.area * left)) / (2 * self.area)
        else:
            best = left / self.rows if self.rows > 0 else w
        return max(0, min(w, int(best)))


def _unique_triangles(tri: np.ndarray) -> np.ndarray:
    """``tri`` without exact copies of a triangle (same corners in the same order)."""
    rows = np.ascontiguousarray(tri.reshape(len(tri), 9))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * 9))).ravel()
    _, first = np.unique(keys, return_index=True)
    if len(first) == len(tri):
        return tri
    return tri[np.sort(first)]


class _Tris:
    """Per-triangle setup shared by the rasterising passes (all float32, contiguous)."""

    def __init__(self, p: np.ndarray):
        self.x0, self.y0, self.z0 = p[0], p[3], p[6]
        self.dx1 = p[1] - self.x0
        self.dy1 = p[4] - self.y0
        self.dz1 = p[7] - self.z0
        self.dx2 = p[2] - self.x0
        self.dy2 = p[5] - self.y0
        self.dz2 = p[8] - self.z0
        self.area2 = self.dx1 * self.dy2 - self.dy1 * self.dx2  # twice the signed screen area

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """The setup of triangles ``idx``, in the order :func:`_cover` wants it."""
        area = self.area2[idx]
        return (
            self.x0[idx], self.y0[idx], self.z0[idx],
            self.dx1[idx], self.dy1[idx], self.dz1[idx],
            self.dx2[idx], self.dy2[idx], self.dz2[idx],
            np.float32(1.0) / area,
        )


_EPS = np.float32(-1e-5)


def _cover(
    px: np.ndarray, py: np.ndarray, t: tuple[np.ndarray, ...], shade: np.ndarray,
    zbuf: np.ndarray, w: int, valid: np.ndarray | None = None,
) -> None:
    """Depth-test pixel (px, py) against its triangle (setup ``t``, aligned with px)."""
    x0, y0, z0, dx1, dy1, dz1, dx2, dy2, dz2, inv = t
    rx = px.astype(np.float32)
    rx += np.float32(0.5)
    rx -= x0
    ry = py.astype(np.float32)
    ry += np.float32(0.5)
    ry -= y0
    w1 = (rx * dy2 - ry * dx2) * inv
    w2 = (dx1 * ry - dy1 * rx) * inv
    inside = (w1 >= _EPS) & (w2 >= _EPS) & (w1 + w2 <= 1 - _EPS)
    if valid is not None:
        inside &= valid
    sel = np.flatnonzero(inside)
    if len(sel) == 0:
        return
    w1 = w1[sel]
    w2 = w2[sel]
    depth = z0[sel] + w1 * dz1[sel] + w2 * dz2[sel]
    _clip(depth, 0.0, 1.0)
    key = ((depth * np.float32(_ZMAX)).astype(np.int64) << 8) | shade[sel]
    np.minimum.at(zbuf, py[sel] * w + px[sel], key)


def _draw(p: np.ndarray, zbuf: np.ndarray, w: int, ambient: float, zscale: float) -> None:
    """Rasterise triangles (view-space corners ``p``, see :func:`_chunks`) into the packed
    z-buffer; ``zscale`` converts depth units to pixels for shading."""
    t = _Tris(p)
    zf = np.float32(zscale)
    shade = _shade(t.dx1, t.dy1, t.dz1 * zf, t.dx2, t.dy2, t.dz2 * zf, ambient)
    x1, x2 = p[1], p[2]
    y1, y2 = p[4], p[5]
    xmin = np.minimum(np.minimum(t.x0, x1), x2)
    xmax = np.maximum(np.maximum(t.x0, x1), x2)
    ymin = np.minimum(np.minimum(t.y0, y1), y2)
    ymax = np.maximum(np.maximum(t.y0, y1), y2)
    # the pixel centres (i + 0.5) inside each bounding box, first as whole float32 numbers
    # (exact below 2**24; half the memory traffic of int64, and only the few triangles drawn
    # past the splat are converted)
    half = np.float32(0.5)
    fx0 = np.ceil(xmin - half)
    fx1 = np.floor(xmax - half)
    fy0 = np.ceil(ymin - half)
    fy1 = np.floor(ymax - half)
    _clip(fx0, 0, w - 1)
    _clip(fy0, 0, w - 1)
    _clip(fx1, -1, w - 1)
    _clip(fy1, -1, w - 1)
    fx1 -= fx0
    fx1 += 1
    fy1 -= fy0
    fy1 += 1
    nx = np.maximum(fx1, 0, out=fx1)
    ny = np.maximum(fy1, 0, out=fy1)
    counts = nx * ny
    flat = t.area2 == 0

    # 1. Triangles covering at most two pixel centres, and edge-on ones, are splatted
    #    at their centroid, so sub-pixel triangles never leave holes.
    splat = (counts <= 2) | flat
    if splat.all():  # a dense mesh: no gathers
        sx0, sx1, sy0, sy1, sz0, sdz1, sdz2, sshade = xmin, xmax, ymin, ymax, t.z0, t.dz1, t.dz2, shade
    else:
        small = np.flatnonzero(splat)
        sx0, sx1, sy0, sy1 = xmin[small], xmax[small], ymin[small], ymax[small]
        sz0, sdz1, sdz2, sshade = t.z0[small], t.dz1[small], t.dz2[small], shade[small]
    if len(sx0):
        third = np.float32(1 / 3)
        cx = ((sx0 + sx1) * half).astype(np.int64)
        cy = ((sy0 + sy1) * half).astype(np.int64)
        _clip(cx, 0, w - 1)
        _clip(cy, 0, w - 1)
        cz = sz0 + (sdz1 + sdz2) * third
        key = ((cz * np.float32(_ZMAX)).astype(np.int64) << 8) | sshade
        np.minimum.at(zbuf, cy * w + cx, key)

    # 2. Triangles whose box holds one pixel centre are tested at it, and those whose box
    #    holds at most 2×2 at four fixed offsets.
    drawable = (counts > 0) & ~flat
    one = np.flatnonzero(drawable & (counts == 1))
    if len(one):
        _cover(fx0[one].astype(np.int64), fy0[one].astype(np.int64), t.take(one), shade[one], zbuf, w)
    quad = np.flatnonzero(drawable & (counts > 1) & (nx <= 2) & (ny <= 2))
    if len(quad):
        tq = t.take(quad)
        qx, qy = fx0[quad].astype(np.int64), fy0[quad].astype(np.int64)
        qnx, qny, qs = nx[quad], ny[quad], shade[quad]
        for ox in (0, 1):
            for oy in (0, 1):
                valid = (qnx > ox) & (qny > oy)
                _cover(qx + ox, qy + oy, tq, qs, zbuf, w, valid)

    # 3. The rest: scan-converted row by row.
    rest = np.flatnonzero(drawable & ((nx > 2) | (ny > 2)))
    if len(rest):
        _cover_spans(rest, t, fy0, ny, xmin, xmax, shade, zbuf, w)


def _cover_spans(
    idx: np.ndarray, t: _Tris, iy0: np.ndarray, ny: np.ndarray, xmin: np.ndarray, xmax: np.ndarray,
    shade: np.ndarray, zbuf: np.ndarray, w: int,
) -> None:
    """Scanline rasterisation of triangles ``idx``: for each pixel row the span of pixel
    centres inside the triangle is solved for, so only covered pixels are generated.

    Done :data:`CHUNK_SPAN_TRIANGLES` triangles, :data:`CHUNK_ROWS` rows and
    :data:`CHUNK_FRAGMENTS` pixels at a time: each of the many temporary arrays then stays
    small enough for the allocator to hand the same memory back, chunk after chunk and
    picture after picture, instead of mapping fresh pages from the system (and zeroing
    them) every time, which cost more than the drawing itself.
    """
    for start in range(0, len(idx), CHUNK_SPAN_TRIANGLES):
        _cover_spans_chunk(idx[start : start + CHUNK_SPAN_TRIANGLES], t, iy0, ny, xmin, xmax, shade, zbuf, w)


def _cover_spans_chunk(
    idx: np.ndarray, t: _Tris, iy0: np.ndarray, ny: np.ndarray, xmin: np.ndarray, xmax: np.ndarray,
    shade: np.ndarray, zbuf: np.ndarray, w: int,
) -> None:
    """:func:`_cover_spans` of a few triangles."""
    x0, y0, z0, dx1, dy1, dz1, dx2, dy2, dz2, inv = (a.astype(np.float64) for a in t.take(idx))
    # Barycentric weights as planes in pixel coordinates: w_k(x, y) = A_k x + B_k y + C_k
    # (w_1, w_2 from the edges at corner 0; w_0 = 1 - w_1 - w_2).
    a1, b1 = dy2 * inv, -dx2 * inv
    a2, b2 = -dy1 * inv, dx1 * inv
    c1 = -(a1 * x0 + b1 * y0)
    c2 = -(a2 * x0 + b2 * y0)
    planes = ((-(a1 + a2), -(b1 + b2), 1.0 - c1 - c2), (a1, b1, c1), (a2, b2, c2))
    # On row y, w_k >= -tol bounds x from the left (A_k > 0) or the right (A_k < 0):
    # x >= P_k y + Q_k, or x <= P_k y + Q_k. The A_k sum to zero, so at most two planes bound
    # from each side: each triangle's bounds go in two left and two right slots (of three
    # planes, one slot stays unused: +-inf), four row evaluations instead of six.
    tol = 1e-6
    bounds = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for ak, bk, ck in planes:
            bounds.append((ak, np.where(ak != 0, -bk / ak, 0.0), np.where(ak != 0, (-tol - ck) / ak, 0.0)))
    lefts = _slots([(ak > 0, pk, qk) for ak, pk, qk in bounds], -np.inf)
    rights = _slots([(ak < 0, pk, qk) for ak, pk, qk in bounds], np.inf)
    # depth plane in key units: key_depth(x, y) = ZX x + ZY y + Z0
    zx = (a1 * dz1 + a2 * dz2) * _ZMAX
    zy = (b1 * dz1 + b2 * dz2) * _ZMAX
    z00 = (z0 + c1 * dz1 + c2 * dz2) * _ZMAX
    left_edge = xmin[idx].astype(np.float64) - 0.5
    right_edge = xmax[idx].astype(np.float64) + 0.5
    first_row = iy0[idx].astype(np.int64)
    tri_shade = shade[idx]
    rows = ny[idx].astype(np.int64)
    row_csum = np.cumsum(rows)
    start = 0
    n = len(idx)
    while start < n:
        base = int(row_csum[start - 1]) if start else 0
        stop = max(int(np.searchsorted(row_csum, base + CHUNK_ROWS, side="right")), start + 1)
        sl = slice(start, stop)
        r = rows[sl]
        # which triangle of the chunk each (triangle, row) pair belongs to: one np.repeat, then a
        # gather per array (np.repeat with per-element counts is about ten times slower than a take)
        owner = np.repeat(np.arange(stop - start), r)

        def per_row(values: np.ndarray, owner: np.ndarray = owner, sl: slice = sl) -> np.ndarray:
            return values[sl].take(owner)

        npairs = len(owner)
        # (only this chunk's triangles: computing it over all of them per chunk was quadratic)
        row = np.arange(npairs, dtype=np.int64) + (first_row[sl] - (row_csum[sl] - r - base)).take(owner)
        yc = row + 0.5
        lo = per_row(left_edge)
        hi = per_row(right_edge)
        for pk, qk in lefts:
            np.maximum(lo, per_row(pk) * yc + per_row(qk), out=lo)
        for pk, qk in rights:
            np.minimum(hi, per_row(pk) * yc + per_row(qk), out=hi)
        i0 = np.ceil(lo - 0.5)
        i1 = np.floor(hi - 0.5)
        _clip(i0, 0, w)
        _clip(i1, -1, w - 1)
        i0 = i0.astype(np.int64)
        length = np.maximum(i1.astype(np.int64) - i0 + 1, 0)
        # depth along the row, in key units: key_depth = zc + zs * (x + 0.5)
        zs = per_row(zx)
        zc = per_row(z00) + per_row(zy) * yc
        pair_shade = per_row(tri_shade)
        base_pix = row * w + i0
        # expand the spans to pixels, in bounded pieces: fragment j of the piece belongs
        # to the pair whose span starts at j0, and lies at x = i0 + (j - j0)
        lcsum = np.cumsum(length)
        s0 = 0
        m = len(length)
        while s0 < m:
            b0 = int(lcsum[s0 - 1]) if s0 else 0
            s1 = max(int(np.searchsorted(lcsum, b0 + CHUNK_FRAGMENTS, side="right")), s0 + 1)
            ln = length[s0:s1]
            total = int(lcsum[s1 - 1]) - b0
            if total:
                j0 = lcsum[s0:s1] - ln - b0
                j = np.arange(total, dtype=np.int64)
                pair = np.repeat(np.arange(s1 - s0), ln)  # the pair (of this piece) each fragment belongs to
                pix = j + (base_pix[s0:s1] - j0).take(pair)
                zsl = zs[s0:s1]
                depth = (zc[s0:s1] + zsl * (i0[s0:s1] - j0 + 0.5)).take(pair)
                depth += zsl.take(pair) * j
                _clip(depth, 0.0, _ZMAX)
                key = depth.astype(np.int64)
                key <<= 8
                key |= pair_shade[s0:s1].take(pair)
                np.minimum.at(zbuf, pix, key)
            s0 = s1
        start = stop
        budget.check()


def _slots(
    planes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], unused: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The bounds (P, Q) of the (at most two) planes whose mask is set, per triangle, in two
    slots: the first such plane, then the second; a slot without one is (0, ``unused``)."""
    (m0, p0, q0), (m1, p1, q1), (m2, p2, q2) = planes
    first = (np.where(m0, p0, np.where(m1, p1, np.where(m2, p2, 0.0))),
             np.where(m0, q0, np.where(m1, q1, np.where(m2, q2, unused))))
    # the second: plane 1 after plane 0, else plane 2 after plane 0 or 1
    second_is_1 = m0 & m1
    second_is_2 = ~second_is_1 & (m0 | m1) & m2
    second = (np.where(second_is_1, p1, np.where(second_is_2, p2, 0.0)),
              np.where(second_is_1, q1, np.where(second_is_2, q2, unused)))
    return [first, second]


def _compose(zbuf: np.ndarray, w: int, size: int, ss: int, style: Style) -> Image.Image:
    """Turn the packed z-buffer into an anti-aliased RGBA image.

    Every covered pixel's colour depends only on its shade byte and whether it lies
    on an outline, so the colours come from a 513-entry table (256 shades, 256
    outlined shades, the background) looked up once per canvas pixel. For
    supersampling the table holds each colour as four 16-bit lanes of one 64-bit
    word (coverage in the alpha lane), so the ``ss``×``ss`` blocks are summed with a
    few whole-word additions; the sums are then divided by their coverage (which
    un-premultiplies them) through a table of every possible quotient.
    """
    hit = zbuf != _EMPTY
    # the shade is the key's low byte: on a little-endian machine a strided view of it
    low = zbuf.view(np.uint8)[:: zbuf.itemsize] if sys.byteorder == "little" else zbuf & 0xFF
    idx = low.astype(np.uint16)
    if style.outline > 0:
        edge = _depth_edges(zbuf, w)
        idx += edge.reshape(-1).view(np.uint8) * np.uint16(256)
    np.copyto(idx, np.uint16(512), where=~hit)
    table = _colour_table(style, ss > 1)
    if ss == 1:
        return Image.fromarray(table[idx].view(np.uint8).reshape(w, w, 4), "RGBA")
    lanes = _lanes_table(table)[idx].reshape(w, w)  # each sample: R, G, B, coverage in 16-bit lanes
    rows = lanes[:, 0::ss].copy()
    for ox in range(1, ss):
        rows += lanes[:, ox::ss]
    acc = rows[0::ss].copy()
    for oy in range(1, ss):
        acc += rows[oy::ss]
    sums = acc.view(np.uint16).reshape(size, size, 4) if sys.byteorder == "little" else _split_lanes(acc)
    n = ss * ss
    quotient = _quotients(n, style.background is None)
    if style.background is None:
        k = sums[..., 3]
        # mean colour of the covered samples, rounded (0 where nothing is covered): the quotient
        # table's row k holds every sum divided by k (all four lanes at once; alpha is set after)
        wide = np.uint16 if len(quotient) <= 1 << 16 else np.int32
        row = k.astype(wide) * wide(255 * n + 1)
        out = quotient.take(sums.astype(wide, copy=False) + row[..., None])
        out[..., 3] = (np.arange(n + 1) * 255 / n + 0.5).astype(np.uint8)[k]
    else:  # the background is in the table: every sample counts
        out = quotient.take(sums)
        out[..., 3] = 255
    return Image.fromarray(out, "RGBA")


def _lanes_table(table: np.ndarray) -> np.ndarray:
    """The packed RGBA ``table`` with each byte widened to a 16-bit lane of a ``uint64``."""
    lanes = _LANES.get(id(table))
    if lanes is None or lanes[0] is not table:
        wide = table.view(np.uint8).reshape(-1, 4).astype(np.uint64)
        packed = wide[:, 0] | (wide[:, 1] << 16) | (wide[:, 2] << 32) | (wide[:, 3] << 48)
        lanes = (table, packed.astype(np.uint64))
        _LANES[id(table)] = lanes
    return lanes[1]


def _split_lanes(acc: np.ndarray) -> np.ndarray:
    """The four 16-bit lanes of ``acc`` as the last axis (R, G, B, coverage), on any byte order."""
    return np.stack([(acc >> np.uint64(16 * i)) & np.uint64(0xFFFF) for i in range(4)], axis=-1).astype(np.uint16)


def _quotients(n: int, by_coverage: bool) -> np.ndarray:
    """Each colour sum of ``n`` samples divided and rounded as :func:`_compose` wants it, in float32
    as it always was: by coverage ``k`` at ``[k * (255 n + 1) + sum]`` (0 for k = 0), or by ``n``."""
    key = (n, by_coverage)
    table = _QUOTIENTS.get(key)
    if table is None:
        sums = np.arange(255 * n + 1, dtype=np.uint16)
        if by_coverage:
            recip = np.array([0.0] + [1.0 / i for i in range(1, n + 1)], dtype=np.float32)
            table = (sums[None, :] * recip[:, None] + np.float32(0.5)).astype(np.uint8).reshape(-1)
        else:
            table = (sums * np.float32(1.0 / n) + np.float32(0.5)).astype(np.uint8)
        _QUOTIENTS[key] = table
    return table


#: widened colour tables (see :func:`_lanes_table`), by the id of the table they widen
_LANES: dict[int, tuple[np.ndarray, np.ndarray]] = {}
#: quotient tables (see :func:`_quotients`) by (samples, divided by coverage)
_QUOTIENTS: dict[tuple[int, bool], np.ndarray] = {}


def _colour_table(style: Style, coverage: bool) -> np.ndarray:
    """The RGBA colour of a pixel by table index (shade, +256 outlined, 512 background), packed
    in ``uint32``; with ``coverage`` the alpha byte is 1 per covered sample (for summing)."""
    key = (style.color, style.background, style.outline, coverage)
    table = _TABLES.get(key)
    if table is None:
        shade = np.arange(256, dtype=np.float32) / np.float32(255.0)
        shade = np.concatenate([shade, shade * np.float32(1 - style.outline)])
        color = np.asarray(style.color, dtype=np.float32) / np.float32(255.0)
        rgb = shade[:, None] * color[None, :]
        # a touch of the light's own colour on the brightest faces (a soft highlight)
        rgb += (np.clip(shade - np.float32(0.8), 0, None) * np.float32(1.2))[:, None]
        rgb8 = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        rgba = np.zeros((513, 4), dtype=np.uint8)
        rgba[:512, :3] = rgb8
        rgba[:512, 3] = 1 if coverage else 255
        if style.background is not None:
            rgba[512] = (*style.background, 255)
        table = rgba.view(np.uint32).reshape(-1)
        _TABLES[key] = table
    return table


#: colour tables by (colour, background, outline, coverage)
_TABLES: dict[tuple[object, ...], np.ndarray] = {}


def _depth_edges(zbuf: np.ndarray, w: int) -> np.ndarray:
    """True where the depth jumps between neighbouring covered pixels (the nearer side stays unmarked).

    Works on the packed keys directly: an empty pixel's key is the largest integer, so
    a jump next to one only ever marks the empty pixel itself, which is then cleared.
    """
    # depth to 24 bits in int32 (half the memory traffic of the keys); empty pixels stay the
    # farthest of all, and no difference overflows
    d64 = zbuf >> (8 + _DEPTH_BITS - 24)
    np.minimum(d64, 2**30, out=d64)
    d = d64.astype(np.int32).reshape(w, w)
    # a jump larger than a few pixels' worth of depth (depth is normalised to the model's depth range)
    threshold = int(4.0 / w * float(2**24))
    edge = np.zeros((w, w), dtype=bool)
    dx = d[:, 1:] - d[:, :-1]
    dy = d[1:, :] - d[:-1, :]
    # mark the farther pixel of a jump: the near surface's outline stays clean
    edge[:, 1:] |= dx > threshold
    edge[:, :-1] |= dx < -threshold
    edge[1:, :] |= dy > threshold
    edge[:-1, :] |= dy < -threshold
    return edge
