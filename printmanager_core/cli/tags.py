"""``printmanager tag``/``untag``, ``collection`` and ``model`` (edit model fields)."""

from __future__ import annotations

import click

from ..paths import printable
from . import LibraryContext, echo_json, pass_library


def register(cli: click.Group) -> None:
    """Add ``tag``, ``untag``, ``tags``, ``note``, ``model-set`` and ``collection`` to the CLI."""

    @cli.command("tag")
    @click.argument("target")
    @click.argument("tags", nargs=-1, required=True)
    @click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path.")
    @pass_library
    def tag(state: LibraryContext, target: str, tags: tuple[str, ...], is_model: bool) -> None:
        """Add TAGS to a file (by id or path) or, with --model, to a model."""
        lib = state.library
        rec = lib.tag_model(target, *tags) if is_model else lib.tag(target, *tags)
        click.echo(f"{printable(rec.path)}: {' '.join(rec.tags) or '(no tags)'}")

    @cli.command("untag")
    @click.argument("target")
    @click.argument("tags", nargs=-1, required=True)
    @click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path.")
    @pass_library
    def untag(state: LibraryContext, target: str, tags: tuple[str, ...], is_model: bool) -> None:
        """Remove TAGS from a file or, with --model, from a model."""
        lib = state.library
        rec = lib.untag_model(target, *tags) if is_model else lib.untag(target, *tags)
        click.echo(f"{printable(rec.path)}: {' '.join(rec.tags) or '(no tags)'}")

    @cli.command("tags")
    @click.option("--json", "as_json", is_flag=True)
    @pass_library
    def tags_cmd(state: LibraryContext, as_json: bool) -> None:
        """List tags in use with how many files and models carry each."""
        counts = state.library.tags()
        if as_json:
            echo_json(counts)
            return
        for name, count in counts.items():
            click.echo(f"{name}\t{count}")

    @cli.command("note")
    @click.argument("target")
    @click.argument("text")
    @click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path.")
    @pass_library
    def note(state: LibraryContext, target: str, text: str, is_model: bool) -> None:
        """Set the notes of a file or, with --model, of a model."""
        lib = state.library
        rec = lib.update_model(target, notes=text) if is_model else lib.set_file_notes(target, text)
        click.echo(f"{printable(rec.path)}: notes set")

    @cli.command("model-set")
    @click.argument("model")
    @click.option("--name")
    @click.option("--creator")
    @click.option("--source-url")
    @click.option("--licence")
    @pass_library
    def model_set(state: LibraryContext, model: str, **fields: str | None) -> None:
        """Set a model's name, creator, source URL or licence."""
        values = {k: v for k, v in fields.items() if v is not None}
        if not values:
            raise click.UsageError("give at least one of --name, --creator, --source-url, --licence")
        rec = state.library.update_model(model, **values)
        click.echo(f"[{rec.id}] {printable(rec.name)}: updated")

    @cli.group("collection")
    def collection() -> None:
        """Group models into named collections."""

    @collection.command("ls")
    @click.option("--json", "as_json", is_flag=True)
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
