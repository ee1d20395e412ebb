"""``printmanager sidecar write``: our fields into models' ``datapackage.json`` (opt-in)."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.group("sidecar")
def sidecar() -> None:
    """Manyfold ``datapackage.json`` sidecars (read at scan; written only here)."""


@sidecar.command("write")
@click.argument("models", nargs=-1, metavar="[MODEL_ID...]")
@click.option("--query", "query", metavar="QUERY", help="Also every model matching QUERY ('' for all).")
@json_option()
@pass_library
def write(state: LibraryContext, models: tuple[str, ...], query: str | None, as_json: bool) -> None:
    """Merge each model's fields into its folder's datapackage.json, atomically.

    Keys we do not understand are kept untouched; resources list the model's
    files (path, media type, name), an entry's own keys (presupported, ...) kept.
    """
    if not models and query is None:
        raise click.UsageError("give MODEL_IDs or --query QUERY (--query '' for every model)")
    done = state.library.write_sidecars(models, query)
    if as_json:
        echo_json({"count": sum(w.written for w in done), "models": [w.as_json() for w in done]})
        return
    for w in done:
        click.echo(f"{w.model_id}: {printable(w.path)}" + ("" if w.written else f" (skipped: {w.reason})"))
    click.echo(f"{sum(w.written for w in done)} sidecar(s) written")
