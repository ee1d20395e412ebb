"""``printmanager models``: models with a file matching a query."""

from __future__ import annotations

import click

from .context import LibraryContext, pass_library
from .lines import model_line
from .output import echo_json, json_option
from .queryargs import QueryCommand, query_argument


@click.command("models", cls=QueryCommand)
@query_argument()
@json_option("Print a JSON array, one object per model.")
@pass_library
def models(state: LibraryContext, query: tuple[str, ...], as_json: bool) -> None:
    """List models with a file matching QUERY."""
    found = state.library.models(" ".join(query))
    if as_json:
        echo_json([m.as_json() for m in found])
        return
    for m in found:
        click.echo(model_line(m))
