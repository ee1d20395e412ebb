"""``printmanager model-set``: a model's name, creator, source URL, licence, title, caption or description."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("model-set")
@click.argument("model")
@click.option("--name")
@click.option("--creator")
@click.option("--source-url")
@click.option("--licence", "--license", "licence")
@click.option("--title", help="The model's title (as a sidecar's title; the name stays the folder's).")
@click.option("--caption", help="A short caption.")
@click.option("--description", help="A longer description (Markdown welcome).")
@json_option()
@pass_library
def model_set(state: LibraryContext, model: str, as_json: bool, **fields: str | None) -> None:
    """Set a model's name, creator, source URL, licence, title, caption or description.

    A value set here is never overwritten by a scan (3MF metadata, sidecars).
    """
    values = {k: v for k, v in fields.items() if v is not None}
    if not values:
        raise click.UsageError("give at least one of --name, --creator, --source-url, --licence, --title, "
                               "--caption, --description")
    rec = state.library.update_model(model, **values)
    if as_json:
        echo_json(rec.as_json())
        return
    click.echo(f"[{rec.id}] {printable(rec.name)}: updated")
