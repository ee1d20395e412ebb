"""``printmanager roots``, ``roots add`` and ``roots rm``: the folders the library indexes."""

from __future__ import annotations

from pathlib import Path

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@click.group("roots", invoke_without_command=True)
@json_option("Print the roots as JSON.")
@click.pass_context
def roots(ctx: click.Context, as_json: bool) -> None:
    """List the library's roots (the folders it indexes) with their files and models.

    Add a root with ``printmanager scan FOLDER`` (or ``roots add``); take one out with ``roots rm``.
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(LibraryContext)
    assert state is not None
    lib = state.library
    counts = lib.root_counts()
    records = lib.root_records()
    if as_json:
        echo_json([{**r.as_json(), "files": counts.get(r.id, (0, 0))[0], "models": counts.get(r.id, (0, 0))[1]}
                   for r in records])
        return
    if not records:
        click.echo("No roots yet: add one with `printmanager scan FOLDER`.")
        return
    for r in records:
        files, models = counts.get(r.id, (0, 0))
        click.echo(f"[{r.id}] {printable(r.path)}\t{_plural(files, 'file')}\t{_plural(models, 'model')}"
                   f"\tadded {(r.added_at or '')[:10]}")


@roots.command("add")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option("Print the root as JSON.")
@pass_library
def roots_add(state: LibraryContext, folder: Path, as_json: bool) -> None:
    """Add FOLDER as a root without scanning it (``scan FOLDER`` adds and scans).

    A running ``printmanager watch`` (without ROOTs) starts watching it within
    seconds, after a catch-up scan of it. A folder inside a root is part of that
    root already; a folder holding roots becomes the root they are folded into.
    """
    lib = state.library
    before = {r.id for r in lib.root_records()}
    root_id = lib.add_root(folder)
    rec = lib.find_root(root_id)
    new = root_id not in before
    if as_json:
        echo_json({**rec.as_json(), "added": new})
        return
    if new:
        click.echo(f"Added root {printable(rec.path)}: scan it with `printmanager scan`")
    else:
        click.echo(f"{printable(str(folder.resolve()))} is in root {printable(rec.path)} already")


@roots.command("rm")
@click.argument("root")
@click.option("--yes", "-y", is_flag=True, help="Don't ask for confirmation.")
@json_option("Print what was removed as JSON.")
@pass_library
def roots_rm(state: LibraryContext, root: str, yes: bool, as_json: bool) -> None:
    """Take ROOT (its id or folder) out of the library. Files on disk are not touched.

    Its files and models leave the catalogue with their tags, notes, collection
    memberships and print log; asks first when the root holds any files.
    """
    lib = state.library
    rec = lib.find_root(root)
    files, models = lib.root_counts().get(rec.id, (0, 0))
    if (files or models) and not yes:
        click.confirm(f"Remove root {printable(rec.path)} with {_plural(files, 'file')} and "
                      f"{_plural(models, 'model')} (and their tags, notes and print log) from the catalogue?",
                      abort=True, err=True)
    done = lib.remove_root(rec.id)
    if as_json:
        echo_json(done)
        return
    click.echo(f"Removed root {printable(rec.path)}: {_plural(done['files'], 'file')}, "
               f"{_plural(done['models'], 'model')}, {_plural(done['prints'], 'print')} left the catalogue")
