"""`make demo`: scan the example models into a temporary library and print the catalogue.

Runs the real command line (the same as a user would type), shows the library
API in a few lines, and ends by writing a static gallery of the library,
``demo-gallery.html`` in the checkout (git-ignored), which stays when the
temporary library is gone: open it in a browser.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
GALLERY = HERE.parent / "demo-gallery.html"


def run(library: str, *args: str) -> None:
    cmd = [sys.executable, "-m", "printmanager_core", "--library", library, *args]
    print("$ printmanager --library", library, " ".join(args), flush=True)
    subprocess.run(cmd, check=True)
    print(flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", type=Path, default=GALLERY, help=f"where to write the gallery (default {GALLERY})")
    gallery = ap.parse_args().gallery.resolve()
    with tempfile.TemporaryDirectory(prefix="printmanager-demo-") as library:
        run(library, "scan", str(MODELS))
        run(library, "models")
        run(library, "ls")
        run(library, "ls", "format:stl", "triangles>1000")
        run(library, "thumbnail", str(MODELS / "3MF samples" / "torus.3mf"), "--json")

        from printmanager_core import Library

        with Library(library) as lib:
            wheel = lib.files("wheel")[0]
            lib.tag(wheel.id, "benchy", "calibration")
            print("API: tagged", wheel.name, "->", lib.file(wheel.id).tags)
            for f in lib.files("tag:benchy"):
                size = " x ".join(f"{v:.1f}" for v in f.bbox_mm or ())
                print(f"API: {f.name}: {f.triangles} triangles, {f.volume_mm3:.0f} mm³, {size} mm, "
                      f"watertight={f.watertight}")
        print(flush=True)

        run(library, "gallery", "-o", str(gallery))
    print(f"Open the gallery of the demo library (it stays; pictures inlined): {gallery.as_uri()}")


if __name__ == "__main__":
    main()
