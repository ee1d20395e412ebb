"""``printmanager tag`` and ``untag``: add or remove tags on a file or a model, or on every match of a query."""

from __future__ import annotations

from typing import Any

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option

#: above this many targets a query-wide change asks first (``--yes`` skips the question)
CONFIRM_ABOVE = 20

_model_flag = click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path (with --query: tag models).")
_query_option = click.option(
    "--query", "query", metavar="QUERY", help="Change every file (or, with --model, every model) matching QUERY; "
    "then all arguments are tags."
)
_yes_option = click.option("--yes", "-y", is_flag=True, help=f"Do not ask before changing more than {CONFIRM_ABOVE}.")


def _change(
    state: LibraryContext, args: tuple[str, ...], is_model: bool, query: str | None, yes: bool, as_json: bool, add: bool
) -> None:
    lib = state.library
    if query is None:
        if len(args) < 2:
            raise click.UsageError("give a TARGET and at least one TAG (or --query QUERY and TAGs)")
        target, tags = args[0], args[1:]
        if is_model:
            rec: Any = lib.tag_model(target, *tags) if add else lib.untag_model(target, *tags)
        else:
            rec = lib.tag(target, *tags) if add else lib.untag(target, *tags)
        if as_json:
            echo_json(rec.as_json())
            return
        click.echo(f"{printable(rec.path)}: {' '.join(rec.tags) or '(no tags)'}")
        return
    tags = args
    targets: list[Any] = lib.models(query) if is_model else lib.files(query)
    kind = "model" if is_model else "file"
    verb = "tag" if add else "untag"
    if len(targets) > CONFIRM_ABOVE and not yes:
        click.confirm(f"{verb} {len(targets)} {kind}s with {' '.join(tags)}?", abort=True, err=True)
    if is_model:
        done = [(lib.tag_model if add else lib.untag_model)(t.id, *tags) for t in targets]
    else:
        done = [(lib.tag if add else lib.untag)(t.id, *tags) for t in targets]
    if as_json:
        echo_json({"query": query, "kind": kind, "tags": list(tags), "count": len(done),
                   "ids": [r.id for r in done]})  # fmt: skip
        return
    click.echo(f"{len(done)} {kind}(s) {'tagged' if add else 'untagged'}: {' '.join(tags)}")


@click.command("tag")
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] TAG...")
@_model_flag
@_query_option
@_yes_option
@json_option("Print the file or model afterwards (with --query: the count and ids) as JSON.")
@pass_library
def tag(state: LibraryContext, args: tuple[str, ...], is_model: bool, query: str | None, yes: bool,
        as_json: bool) -> None:  # fmt: skip
    """Add TAGS to a file (by id or path), with --model to a model, or with --query to every match."""
    _change(state, args, is_model, query, yes, as_json, add=True)


@click.command("untag")
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] TAG...")
@_model_flag
@_query_option
@_yes_option
@json_option("Print the file or model afterwards (with --query: the count and ids) as JSON.")
@pass_library
def untag(state: LibraryContext, args: tuple[str, ...], is_model: bool, query: str | None, yes: bool,
          as_json: bool) -> None:  # fmt: skip
    """Remove TAGS from a file, with --model from a model, or with --query from every match."""
    _change(state, args, is_model, query, yes, as_json, add=False)
