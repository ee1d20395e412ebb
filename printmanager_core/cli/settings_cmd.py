"""``printmanager settings [get KEY | set KEY VALUE]``."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..settings import parse_for
from .context import LibraryContext, pass_library
from .output import echo_json, json_option, json_text

#: Switched by its owner's commands, which record what the consent covers.
OWNED_SWITCHES = {"privacy.sync": "printmanager sync enable|disable"}


@click.group("settings", invoke_without_command=True)
@json_option("Print JSON.")
@click.pass_context
def settings(ctx: click.Context, as_json: bool) -> None:
    """Show every setting, or get or set one (privacy switches are recorded in the consent ledger)."""
    if ctx.invoked_subcommand is not None:
        return
    values = ctx.find_object(LibraryContext).library.settings.all()
    if as_json:
        echo_json(values)
        return
    for key, value in values.items():
        click.echo(f"{key} = {json_text(value)}")


@settings.command("get")
@click.argument("key")
@json_option("Print the value as JSON.")
@pass_library
def get(state: LibraryContext, key: str, as_json: bool) -> None:
    """Print the value of KEY."""
    value = state.library.settings.get(key)
    if as_json:
        echo_json({key: value})
    else:
        click.echo(json_text(value))


@settings.command("set")
@click.argument("key")
@click.argument("value")
@json_option("Print the new value as JSON.")
@pass_library
def set_(state: LibraryContext, key: str, value: str, as_json: bool) -> None:
    """Set KEY to VALUE (true/false/on/off, a number, or text)."""
    if key in OWNED_SWITCHES:
        raise UsageError(f"{key} is switched with `{OWNED_SWITCHES[key]}`, which records what you consent to")
    settings = state.library.settings
    settings.set(key, parse_for(key, value), source="cli")
    new = settings.get(key)
    if as_json:
        echo_json({key: new})
    else:
        click.echo(f"{key} = {json_text(new)}")
