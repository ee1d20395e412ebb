"""``printmanager duplicates``: files with the same content."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("duplicates")
@json_option("Print a JSON array of groups.")
@pass_library
def duplicates(state: LibraryContext, as_json: bool) -> None:
    """List groups of files with the same content (same SHA-256)."""
    groups = state.library.duplicates()
    if as_json:
        echo_json([{"hash": g[0].hash, "size_bytes": g[0].size_bytes, "files": [f.as_json() for f in g]}
                   for g in groups])
        return
    for g in groups:
        click.echo(f"{g[0].hash}  {g[0].size_bytes} bytes, {len(g)} copies")
        for f in g:
            click.echo(f"  [{f.id}] {printable(f.path)}")
