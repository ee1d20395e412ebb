"""``printmanager thumbnail``: a file's (or a model's) thumbnail, from the cache or made now."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library

from .api import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, CachedThumbnail, model_thumbnail, thumbnail
from .picture import ThumbnailError


@click.command("thumbnail")
@click.argument("target", metavar="PATH_OR_ID")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Also write the PNG here.")
@click.option("--size", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=None,
              help=f"Edge of the square PNG in pixels (default: setting thumbnails.size, {DEFAULT_SIZE}).")
@click.option("--model", "is_model", is_flag=True,
              help="PATH_OR_ID is a model: picture its best file.")
@click.option("--refresh", is_flag=True, help="Make it again even if it is cached.")
@json_option('Print {"path", "source", "width", "height", "seconds"}.')
@pass_library
def thumbnail_cmd(state: LibraryContext, target: str, output: Path | None, size: int | None, is_model: bool,
                  refresh: bool, as_json: bool) -> None:
    """Print the path of a file's thumbnail PNG, making it if needed.

    PATH_OR_ID is a file id, a catalogued path, or any mesh or sliced file on
    disk. The embedded picture is used when the file has one, else the mesh
    (or G-code toolpath) is rendered.
    """
    lib = state.library
    result: CachedThumbnail | None
    if is_model:
        result = model_thumbnail(lib, target, size)
        if result is None:
            raise ThumbnailError(f"no file of model {target} can be pictured")
    else:
        result = thumbnail(lib, target, size, refresh=refresh)
    path = result.path
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result.path, output)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        path = output.resolve()
    for problem in result.problems:
        click.echo(f"warning: {problem}", err=True)
    if as_json:
        data = result.as_json()
        data["path"] = str(path)
        echo_json(data)
    else:
        click.echo(f"{path}  ({result.source}, {result.width}x{result.height}, {result.seconds:.3f}s)")
