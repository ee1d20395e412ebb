"""``printmanager open``: open a file or model in an installed slicer."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option

SLICER_NAMES = ("prusaslicer", "orca", "bambu", "cura", "superslicer")


@click.command("open")
@click.argument("target")
@click.option("--slicer", type=click.Choice(SLICER_NAMES), required=True, help="The slicer to open it in.")
@click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path (its mesh files open).")
@json_option("Print the command line started and its pid as JSON.")
@pass_library
def open_cmd(state: LibraryContext, target: str, slicer: str, is_model: bool, as_json: bool) -> None:
    """Open the file (or model) TARGET in an installed slicer."""
    from ..printing.slicers import open_target

    argv, pid = open_target(state.library, target, slicer, model=is_model)
    if as_json:
        echo_json({"slicer": slicer, "argv": argv, "pid": pid})
        return
    click.echo(printable(f"opened {len(argv) - 1} file(s) in {slicer} (pid {pid})"))
