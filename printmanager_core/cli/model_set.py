"""``printmanager model-set``: a model's name, creator, source URL or licence."""

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
@json_option()
@pass_library
def model_set(state: LibraryContext, model: str, as_json: bool, **fields: str | None) -> None:
    """Set a model's name, creator, source URL or licence."""
    values = {k: v for k, v in fields.items() if v is not None}
    if not values:
        raise click.UsageError("give at least one of --name, --creator, --source-url, --licence")
    rec = state.library.update_model(model, **values)
    if as_json:
        echo_json(rec.as_json())
        return
    click.echo(f"[{rec.id}] {printable(rec.name)}: updated")
