"""``printmanager gallery``: a static contact sheet (HTML or PNG) of a query's files."""

from __future__ import annotations

from pathlib import Path

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library
from printmanager_core.cli.queryargs import QueryCommand, query_argument

from .api import MAX_SIZE, MIN_SIZE
from .gallery import DEFAULT_COLUMNS, write_gallery


@click.command("gallery", cls=QueryCommand)
@query_argument()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The sheet to write: FILE.html (self-contained page) or FILE.png (one picture).")
@click.option("--columns", type=click.IntRange(1, 100), default=DEFAULT_COLUMNS, show_default=True,
              help="Tiles per row of a PNG sheet.")
@click.option("--size", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=None,
              help="Thumbnail edge in pixels inlined in an HTML sheet (default: setting thumbnails.size).")
@json_option('Print {"path", "format", "query", "files", "pictured", "width", "height", "bytes"}.')
@pass_library
def gallery_cmd(state: LibraryContext, query: tuple[str, ...], output: Path, columns: int,
                size: int | None, as_json: bool) -> None:
    """Write a contact sheet of the files matching QUERY (see docs/query.md).

    Each file gets its thumbnail, name and key figures; a file that cannot be
    pictured gets a tile saying why. An HTML sheet has every picture inlined,
    so it stays whole when moved.
    """
    sheet = write_gallery(state.library, " ".join(query), output, size=size, columns=columns)
    if as_json:
        echo_json(sheet.as_json())
        return
    dims = f", {sheet.width}x{sheet.height}" if sheet.width else ""
    click.echo(f"{sheet.path}  ({sheet.files} files, {sheet.pictured} pictured{dims})")
