"""Thumbnail costs of issue 11: the first one in a fresh process, a small mesh, an embedded 3MF picture.

Table rows (256 px; medians):
1. First thumbnail in a fresh process of a 1.3M-triangle binary STL: seconds
   from the child's first line (before printmanager is imported) to the PNG
   bytes, --runs fresh processes. Baseline, in each of those processes: the
   same thumbnail made again (warm: imports done, allocations reused).
   Target: <= 0.35 s.
2. Thumbnail of a small mesh (a 20,000-triangle binary STL): read + draw + PNG,
   in a warm process. Baseline: PNG-encoding the same 256 px picture alone (the
   fixed cost every thumbnail pays). Target: <= 10 ms.
3. Embedded 3MF picture of the corpus' ``cube_gears_prod.3mf``: the reader's
   ``embedded_images`` + choosing the largest + fitting it to 256 px. Baseline:
   reading and decoding the same picture member with zipfile + Pillow, no
   reader. Target: <= 25 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, REPO, add_quick, compile_bytecode, emit, process_env  # noqa: E402
from thumbnails import bumpy_torus  # noqa: E402

SIZE = 256
FRESH = """
import time
t0 = time.perf_counter()
import sys
from printmanager_core.readers.base import Source
from printmanager_thumbnails.api import render_source
png = render_source(Source.from_path(sys.argv[1]), 256).to_png()
t1 = time.perf_counter()
png = render_source(Source.from_path(sys.argv[1]), 256).to_png()
t2 = time.perf_counter()
import json
print(json.dumps({"first": t1 - t0, "warm": t2 - t1}))
"""


def write_stl(path: Path, tris: np.ndarray) -> None:
    records = np.zeros(len(tris), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = tris
    with open(path, "wb") as fh:
        fh.write(b"bench".ljust(80, b" ") + len(tris).to_bytes(4, "little"))
        fh.write(records.tobytes())


def timings(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_quick(ap)
    ap.add_argument("--runs", type=int, help="fresh processes (default 7, --quick 5)")
    args = ap.parse_args()
    runs = args.runs or (5 if args.quick else 7)
    compile_bytecode()
    from printmanager_core.readers import reader_for
    from printmanager_core.readers.base import Source
    from printmanager_thumbnails.api import render_source
    from printmanager_thumbnails.images import fit_square, pick_largest

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.stl"
        write_stl(big, bumpy_torus(1_300_000))
        env = process_env()
        fresh = []
        for _ in range(runs + 1):
            out = subprocess.run([sys.executable, "-c", FRESH, str(big)], env=env, cwd=REPO, capture_output=True,
                                 text=True, check=True)  # fmt: skip
            fresh.append(json.loads(out.stdout))
        fresh = fresh[1:]  # the first also warmed the page cache
        first = statistics.median(r["first"] for r in fresh)
        warm = statistics.median(r["warm"] for r in fresh)
        ratio = statistics.median(r["first"] / r["warm"] for r in fresh)
        emit("First thumbnail in a fresh process (1.3M triangles)", f"{first:.3f} s",
             f"same thumbnail again, warm {warm:.3f} s", f"{ratio:.1f}x the warm one", "<= 0.35 s", first <= 0.35,
             size=f"median of {runs} fresh processes", quick=args.quick,
             detail={"first_s": first, "warm_s": warm, "runs": fresh})  # fmt: skip

        small = Path(tmp) / "small.stl"
        write_stl(small, bumpy_torus(20_000))
        thumb = render_source(Source.from_path(small), SIZE)
        n = 40 if args.quick else 100
        t_small = statistics.median(timings(lambda: render_source(Source.from_path(small), SIZE).to_png(), n))
        image = thumb.to_image()
        t_png = statistics.median(timings(lambda: image.save(io.BytesIO(), format="PNG", optimize=False,
                                                             compress_level=6), n))  # fmt: skip
        emit("Thumbnail of a small mesh (20k triangles)", f"{t_small * 1000:.1f} ms",
             f"PNG encode of the same picture alone {t_png * 1000:.1f} ms", f"{t_small / t_png:.1f}x the encode",
             "<= 10 ms", t_small <= 0.010, size=f"{thumb.detail}, median of {n}", quick=args.quick,
             detail={"thumbnail_s": t_small, "png_s": t_png})  # fmt: skip

    path = CORPUS / "3mf-samples" / "cube_gears_prod.3mf"
    data = path.read_bytes()
    reader = reader_for(path.name)
    assert reader is not None

    def embedded() -> None:
        picked, _ = pick_largest(reader.embedded_images(Source.from_bytes(path.name, data)), SIZE)  # type: ignore[union-attr]
        assert picked is not None
        fit_square(picked.image, SIZE)

    def floor() -> None:
        from PIL import Image

        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            best = max((i for i in zf.infolist() if i.filename.lower().endswith(".png")), key=lambda i: i.file_size)
            Image.open(io.BytesIO(zf.read(best))).load()

    embedded(), floor()
    n = 30 if args.quick else 60
    t_emb = statistics.median(timings(embedded, n))
    t_floor = statistics.median(timings(floor, n))
    emit("Embedded 3MF picture (cube_gears_prod.3mf)", f"{t_emb * 1000:.1f} ms",
         f"zipfile + Pillow decode of the same picture {t_floor * 1000:.1f} ms",
         f"{t_emb / t_floor:.1f}x the decode", "<= 25 ms", t_emb <= 0.025, size=f"median of {n}", quick=args.quick,
         detail={"embedded_s": t_emb, "floor_s": t_floor})  # fmt: skip


if __name__ == "__main__":
    main()
