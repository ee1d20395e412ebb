"""``printmanager slice``: slice a mesh headless with an installed slicer's command line."""

from __future__ import annotations

from pathlib import Path

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("slice")
@click.argument("target")
@click.option("--slicer", type=click.Choice(("prusaslicer", "superslicer")), default="prusaslicer",
              show_default=True, help="The slicer whose command line slices.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="A slicer profile (.ini) to load.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The folder the G-code goes into (default: beside the source).")
@click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path (with one mesh file).")
@json_option("Print the G-code file (ls --json shape) and its sources as JSON.")
@pass_library
def slice_cmd(state: LibraryContext, target: str, slicer: str, config: Path | None, out_dir: Path | None,
              is_model: bool, as_json: bool) -> None:
    """Slice the mesh TARGET headless; the G-code is catalogued and linked to it."""
    from ..printing.slicers import slice_target

    gcode, sources = slice_target(state.library, target, slicer, config, out_dir, model=is_model)
    if as_json:
        echo_json({"gcode": gcode.as_json(), "sliced_from": [s.as_json() for s in sources]})
        return
    facts = gcode.slicer
    bits = [b for b in (facts.printer_model,
                        f"{facts.print_time_s / 60:.0f} min" if facts.print_time_s else None,
                        f"{facts.filament_g:g} g" if facts.filament_g else None) if b]
    click.echo(printable(f"[{gcode.id}] {gcode.path}" + (f"  ({', '.join(bits)})" if bits else "")))
