"""``printmanager ls``: files matching a query."""

from __future__ import annotations

import click

from .context import LibraryContext, pass_library
from .lines import file_line
from .output import echo_json, json_option
from .queryargs import QueryCommand, query_argument


@click.command("ls", cls=QueryCommand)
@query_argument()
@json_option("Print a JSON array, one object per file.")
@click.option("--missing", is_flag=True, help="Include files no longer on disk.")
@pass_library
def ls(state: LibraryContext, query: tuple[str, ...], as_json: bool, missing: bool) -> None:
    """List files matching QUERY (see docs/query.md)."""
    files = state.library.files(" ".join(query), include_missing=missing)
    if as_json:
        echo_json([f.as_json() for f in files])
        return
    for f in files:
        click.echo(file_line(f))
