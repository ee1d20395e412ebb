"""Thumbnails: seconds per thumbnail over the corpus, and a 1M-triangle render beside matplotlib.

Figures (256 px, one core: the process is pinned to one CPU and BLAS to one thread):
- p50 / p95 seconds per thumbnail over every loadable mesh and sliced file of
  ../shared/corpus, made from the file (read + embedded picture or render + PNG),
  no cache, best of 3 runs per file;
- embedded extraction alone (reader's embedded_images + decode + fit), worst
  sliced file and worst 3MF package;
- a generated 1,000,000-triangle mesh (and a 1,500,000 one): our render, beside a
  matplotlib ``Poly3DCollection`` render of the same triangles at the same size in
  the same run (what peer tools use; Agg backend, no display).
Targets: p95 ≤ 0.35 s for meshes up to 1.5M triangles; ≥ 10× faster than
matplotlib; embedded extraction ≤ 25 ms.
"""

from __future__ import annotations

import os

# one core: no BLAS or OpenMP threads (set before numpy is imported)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, percentile, row  # noqa: E402

from printmanager_core import Library  # noqa: E402
from printmanager_core.readers import reader_for  # noqa: E402
from printmanager_thumbnails import render_triangles  # noqa: E402
from printmanager_thumbnails.api import file_source, make_thumbnail  # noqa: E402
from printmanager_thumbnails.images import fit_square, pick_largest  # noqa: E402

SIZE = 256
#: each measurement is the best of this many runs (the machine may be shared)
REPEAT = 3
BLUE = (0.29, 0.56, 0.89)
MESH = {"stl", "obj", "ply", "3mf"}
SLICED = {"gcode", "bgcode", "gcode.3mf"}


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def bumpy_torus(triangles: int) -> np.ndarray:
    """A torus with ripples, ``triangles`` triangles (rounded to a grid)."""
    nv = int(round((triangles / 4) ** 0.5))
    nu = triangles // (2 * nv)
    u = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    v = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    r = 12 + 1.5 * np.sin(9 * uu) * np.cos(5 * vv)
    x = (40 + r * np.cos(vv)) * np.cos(uu)
    y = (40 + r * np.cos(vv)) * np.sin(uu)
    z = r * np.sin(vv)
    pts = np.stack([x, y, z], axis=-1)
    i = np.arange(nu)
    j = np.arange(nv)
    i1 = (i + 1) % nu
    j1 = (j + 1) % nv
    a = pts[i][:, j]
    b = pts[i1][:, j]
    c = pts[i1][:, j1]
    d = pts[i][:, j1]
    t1 = np.stack([a, b, c], axis=2).reshape(-1, 3, 3)
    t2 = np.stack([a, c, d], axis=2).reshape(-1, 3, 3)
    return np.concatenate([t1, t2]).astype(np.float32)


def matplotlib_render(tris: np.ndarray, size: int) -> float:
    """Seconds for matplotlib to draw the triangles into a size×size PNG (Agg, shaded)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    start = time.perf_counter()
    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_subplot(projection="3d")
    ax.add_collection3d(Poly3DCollection(tris, facecolors=BLUE, edgecolors=BLUE, linewidths=0, shade=True))
    lo, hi = tris.reshape(-1, 3).min(axis=0), tris.reshape(-1, 3).max(axis=0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(hi - lo)
    ax.view_init(elev=28, azim=-55)
    ax.set_axis_off()
    with tempfile.TemporaryFile() as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
    return time.perf_counter() - start


def ours(tris: np.ndarray, size: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        render_triangles(tris, size)
        best = min(best, time.perf_counter() - t0)
    return best


def from_stl_file(tris: np.ndarray) -> float:
    """Best seconds to make a thumbnail PNG from a binary STL of ``tris`` (file cached by the OS)."""
    from printmanager_core.readers.base import Source
    from printmanager_thumbnails.api import render_source

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.stl"
        records = np.zeros(len(tris), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
        records["v"] = tris
        with open(path, "wb") as fh:
            fh.write(b"bench".ljust(80, b" ") + len(tris).to_bytes(4, "little"))
            fh.write(records.tobytes())
        best = float("inf")
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            render_source(Source.from_path(path), SIZE).to_png()
            best = min(best, time.perf_counter() - t0)
    return best


def corpus_times(lib: Library) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]:
    per_file: list[tuple[str, str, float]] = []
    embedded: list[tuple[str, str, float]] = []
    for f in lib.files():
        if f.error or f.format not in MESH | SLICED:
            continue
        best = float("inf")
        try:
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                make_thumbnail(lib, f, SIZE).to_png()
                best = min(best, time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            print(f"  no thumbnail: {f.name}: {exc}")
            continue
        per_file.append((f.name, f.format or "", best))
        if f.thumbnails:
            reader = reader_for(f.name)
            best = float("inf")
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                picked, _ = pick_largest(reader.embedded_images(file_source(lib, f)), SIZE)  # type: ignore[union-attr]
                assert picked is not None
                fit_square(picked.image, SIZE)
                best = min(best, time.perf_counter() - t0)
            embedded.append((f.name, f.format or "", best))
    return per_file, embedded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triangles", type=int, default=1_000_000, help="size of the generated mesh")
    ap.add_argument("--skip-matplotlib", action="store_true", help="leave out the (slow) baseline")
    args = ap.parse_args()
    print(f"thumbnails at {SIZE} px; {pin_one_core()}")

    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
        lib.scan([CORPUS], thumbnails=False, workers=1)
        make_thumbnail(lib, lib.files("format:stl")[0], SIZE)  # warm-up: imports, first allocations
        per_file, embedded = corpus_times(lib)
    times = [t for _, _, t in per_file]
    mesh_times = [t for _, fmt, t in per_file if fmt in MESH]
    print(f"\ncorpus: {len(per_file)} files ({len(mesh_times)} meshes, {len(per_file) - len(mesh_times)} sliced)")
    slowest = sorted(per_file, key=lambda r: -r[2])[:3]
    print("  slowest: " + ", ".join(f"{n} {t:.3f}s" for n, _, t in slowest))
    p95 = percentile(times, 95)
    row("corpus p50 s/thumbnail", f"{percentile(times, 50):.3f}", "", "")
    row("corpus p95 s/thumbnail", f"{p95:.3f}", "target <= 0.35", "OK" if p95 <= 0.35 else "MISSED")
    for label, kinds in (("sliced files", SLICED), ("3MF packages", {"3mf"})):
        picked = [(t, n) for n, fmt, t in embedded if fmt in kinds]
        if picked:
            worst, name = max(picked)
            row(f"embedded extraction, {label} (worst)", f"{worst * 1000:.1f} ms", f"target <= 25 ms ({name})",
                "OK" if worst <= 0.025 else "MISSED")

    for n in (args.triangles, 1_500_000):
        tris = bumpy_torus(n)
        t = ours(tris, SIZE, repeat=5)
        row(f"render {len(tris):,} triangles", f"{t:.3f} s", "target <= 0.35", "OK" if t <= 0.35 else "MISSED")
        if n == 1_500_000:
            e2e = from_stl_file(tris)
            row("  same, from a binary STL file (read+draw+PNG)", f"{e2e:.3f} s", "target <= 0.35",
                "OK" if e2e <= 0.35 else "MISSED")
        if n == args.triangles and not args.skip_matplotlib:
            base = matplotlib_render(tris, SIZE)
            speedup = base / t
            row("  matplotlib Poly3DCollection, same mesh", f"{base:.2f} s", f"ours is {speedup:.0f}x faster",
                "OK" if speedup >= 10 else "MISSED")


if __name__ == "__main__":
    main()
