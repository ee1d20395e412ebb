"""``printmanager collection ls|show|add|remove|delete``: named groups of models."""

from __future__ import annotations

import click

from ..paths import printable
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


@collection.command("show")
@click.argument("name")
@json_option()
@pass_library
def collection_show(state: LibraryContext, name: str, as_json: bool) -> None:
    """Show collection NAME: its description and its models."""
    lib = state.library
    rec = lib.collection(name)
    models = [lib.model(m) for m in rec.models]
    if as_json:
        echo_json({**rec.as_json(), "models": [m.as_json() for m in models]})
        return
    click.echo(f"{printable(rec.name)}\t{len(models)} models\t{printable(rec.description)}")
    for m in models:
        click.echo(f"[{m.id}] {printable(m.name)}\t{m.files} files\t{printable(m.path)}")


def _echo_collection(state: LibraryContext, name: str, as_json: bool, line: str) -> None:
    if as_json:
        echo_json(state.library.collection(name).as_json())
    else:
        click.echo(line)


@collection.command("add")
@click.argument("name")
@click.argument("models", nargs=-1, required=True)
@json_option()
@pass_library
def collection_add(state: LibraryContext, name: str, models: tuple[str, ...], as_json: bool) -> None:
    """Add MODELS (ids or paths) to collection NAME, creating it if needed."""
    state.library.add_to_collection(name, *models)
    _echo_collection(state, name, as_json, f"{name}: {len(models)} model(s) added")


@collection.command("remove")
@click.argument("name")
@click.argument("models", nargs=-1, required=True)
@json_option()
@pass_library
def collection_remove(state: LibraryContext, name: str, models: tuple[str, ...], as_json: bool) -> None:
    """Remove MODELS from collection NAME."""
    state.library.remove_from_collection(name, *models)
    _echo_collection(state, name, as_json, f"{name}: {len(models)} model(s) removed")


@collection.command("delete")
@click.argument("name")
@json_option()
@pass_library
def collection_delete(state: LibraryContext, name: str, as_json: bool) -> None:
    """Delete collection NAME (its models stay)."""
    state.library.delete_collection(name)
    if as_json:
        echo_json({"name": name, "deleted": True})
    else:
        click.echo(f"{name}: deleted")
