"""``printmanager note``: the notes of a file or a model."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("note")
@click.argument("target")
@click.argument("text")
@click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path.")
@json_option("Print the file or model afterwards as JSON.")
@pass_library
def note(state: LibraryContext, target: str, text: str, is_model: bool, as_json: bool) -> None:
    """Set the notes of a file or, with --model, of a model."""
    lib = state.library
    rec = lib.update_model(target, notes=text) if is_model else lib.set_file_notes(target, text)
    if as_json:
        echo_json(rec.as_json())
        return
    click.echo(f"{printable(rec.path)}: notes set")
