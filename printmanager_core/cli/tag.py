"""``printmanager tag`` and ``untag``: add or remove tags on a file or a model."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option

_model_flag = click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path.")


@click.command("tag")
@click.argument("target")
@click.argument("tags", nargs=-1, required=True)
@_model_flag
@json_option("Print the file or model afterwards as JSON.")
@pass_library
def tag(state: LibraryContext, target: str, tags: tuple[str, ...], is_model: bool, as_json: bool) -> None:
    """Add TAGS to a file (by id or path) or, with --model, to a model."""
    lib = state.library
    rec = lib.tag_model(target, *tags) if is_model else lib.tag(target, *tags)
    if as_json:
        echo_json(rec.as_json())
        return
    click.echo(f"{printable(rec.path)}: {' '.join(rec.tags) or '(no tags)'}")


@click.command("untag")
@click.argument("target")
@click.argument("tags", nargs=-1, required=True)
@_model_flag
@json_option("Print the file or model afterwards as JSON.")
@pass_library
def untag(state: LibraryContext, target: str, tags: tuple[str, ...], is_model: bool, as_json: bool) -> None:
    """Remove TAGS from a file or, with --model, from a model."""
    lib = state.library
    rec = lib.untag_model(target, *tags) if is_model else lib.untag(target, *tags)
    if as_json:
        echo_json(rec.as_json())
        return
    click.echo(f"{printable(rec.path)}: {' '.join(rec.tags) or '(no tags)'}")
