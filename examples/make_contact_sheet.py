"""Make docs/contact-sheet.png: the thumbnail of every file of the test corpus.

    .venv/bin/python examples/make_contact_sheet.py [CORPUS] [-o docs/contact-sheet.png]

Scans the corpus (../shared/corpus by default) into a temporary library with
thumbnails on, exactly as ``printmanager scan`` does, and lays every mesh and
sliced file's cached thumbnail on a grid, labelled with the file name and where
the picture came from (E: embedded, R: rendered). Files that could not be
pictured get a grey tile with the reason (x), so nothing is hidden.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from printmanager_core import Library
from printmanager_thumbnails import ThumbnailError, thumbnail

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
FORMATS = {"stl", "obj", "ply", "3mf", "gcode", "bgcode", "gcode.3mf"}
TILE = 160
LABEL = 30
COLUMNS = 8
BACKGROUND = (246, 246, 246)
TILE_BACKGROUND = (226, 229, 234)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def make_sheet(corpus: Path, output: Path) -> tuple[int, int]:
    """Write the sheet; returns (files pictured, files not pictured)."""
    font = ImageFont.load_default(size=11)
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library") as lib:
        lib.scan([corpus])
        files = [f for f in lib.files() if (f.format or "") in FORMATS]
        files.sort(key=lambda f: (str(Path(f.path).parent.name).lower(), f.name.lower()))
        rows = (len(files) + COLUMNS - 1) // COLUMNS
        sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + LABEL)), BACKGROUND)
        draw = ImageDraw.Draw(sheet)
        ok = bad = 0
        for i, f in enumerate(files):
            x, y = (i % COLUMNS) * TILE, (i // COLUMNS) * (TILE + LABEL)
            tile = Image.new("RGB", (TILE, TILE), TILE_BACKGROUND)
            tag = ""
            reason = ""
            if f.error:
                reason = f.error
            else:
                try:
                    t = thumbnail(lib, f)
                    with Image.open(t.path) as im:
                        pic = im.convert("RGBA").resize((TILE - 8, TILE - 8), Image.Resampling.LANCZOS)
                    tile.paste(pic, (4, 4), pic)
                    tag = "E" if t.source == "embedded" else "R"
                except ThumbnailError as exc:
                    reason = str(exc)
            sheet.paste(tile, (x, y))
            if reason:
                bad += 1
                tdraw = ImageDraw.Draw(sheet)
                words, line, lines = reason.split(), "", []
                for word in words:
                    if tdraw.textlength(line + " " + word, font=font) > TILE - 12:
                        lines.append(line)
                        line = word
                    else:
                        line = (line + " " + word).strip()
                lines.append(line)
                for k, text in enumerate(lines[:8]):
                    tdraw.text((x + 6, y + 8 + 13 * k), text, fill=(120, 60, 60), font=font)
                tag = "x"
            else:
                ok += 1
            name = _fit_text(draw, f.name, font, TILE - 24)
            folder = _fit_text(draw, Path(f.path).parent.name, font, TILE - 8)
            draw.text((x + 4, y + TILE + 2), name, fill=(20, 20, 20), font=font)
            draw.text((x + TILE - 14, y + TILE + 2), tag, fill=(30, 90, 170) if tag == "R" else (200, 100, 20),
                      font=font)
            draw.text((x + 4, y + TILE + 15), folder, fill=(120, 120, 120), font=font)
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output, optimize=True)
    return ok, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    ap.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "contact-sheet.png")
    args = ap.parse_args()
    ok, bad = make_sheet(args.corpus, args.output)
    print(f"{args.output}: {ok} files pictured, {bad} not (unreadable files, reasons on their tiles)")


if __name__ == "__main__":
    main()
