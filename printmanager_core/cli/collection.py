"""``printmanager collection ls|add|remove|delete``: named groups of models."""

from __future__ import annotations

import click

from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.group("collection")
def collection() -> None:
    """Group models into named collections."""


@collection.command("ls")
@json_option()
@pass_library
def collection_ls(state: LibraryContext, as_json: bool) -> None:
    """List collections."""
    cols = state.library.collections()
    if as_json:
        echo_json(cols)
        return
    for c in cols:
        click.echo(f"{c['name']}\t{len(c['models'])} models\t{c['description']}")


@collection.command("add")
@click.argument("name")
@click.argument("models", nargs=-1, required=True)
@pass_library
def collection_add(state: LibraryContext, name: str, models: tuple[str, ...]) -> None:
    """Add MODELS (ids or paths) to collection NAME, creating it if needed."""
    state.library.add_to_collection(name, *models)
    click.echo(f"{name}: {len(models)} model(s) added")


@collection.command("remove")
@click.argument("name")
@click.argument("models", nargs=-1, required=True)
@pass_library
def collection_remove(state: LibraryContext, name: str, models: tuple[str, ...]) -> None:
    """Remove MODELS from collection NAME."""
    state.library.remove_from_collection(name, *models)
    click.echo(f"{name}: {len(models)} model(s) removed")


@collection.command("delete")
@click.argument("name")
@pass_library
def collection_delete(state: LibraryContext, name: str) -> None:
    """Delete collection NAME (its models stay)."""
    state.library.delete_collection(name)
    click.echo(f"{name}: deleted")
