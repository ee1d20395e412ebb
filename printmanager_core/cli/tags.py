"""``printmanager tags``: the tags in use."""

from __future__ import annotations

import click

from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("tags")
@json_option()
@pass_library
def tags(state: LibraryContext, as_json: bool) -> None:
    """List tags in use with how many files and models carry each."""
    counts = state.library.tags()
    if as_json:
        echo_json(counts)
        return
    for name, count in counts.items():
        click.echo(f"{name}\t{count}")
