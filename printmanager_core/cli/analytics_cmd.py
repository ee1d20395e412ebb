"""``printmanager analytics on|off|show``."""

from __future__ import annotations

import click

from ..privacy.analytics import Analytics, sinks
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


def _show(state: LibraryContext, as_json: bool) -> None:
    analytics = Analytics.for_library(state.library)
    data = {
        "enabled": analytics.enabled,
        "sinks": sinks().names(),
        "aggregates": [a.as_json() for a in analytics.aggregates()],
    }
    if as_json:
        echo_json(data)
        return
    where = ", ".join(data["sinks"]) if data["sinks"] else "nowhere (no analytics sink installed)"
    click.echo(f"analytics: {'on' if data['enabled'] else 'off'}; sent to: {where}")
    for agg in data["aggregates"]:
        click.echo(f"{agg['day']}  {agg['feature']}  {agg['count']}  ({agg['sent']} sent)")


@click.group("analytics", invoke_without_command=True)
@click.pass_context
def analytics(ctx: click.Context) -> None:
    """Anonymous usage counts per feature per day: switch them on or off, or see them."""
    if ctx.invoked_subcommand is None:
        _show(ctx.find_object(LibraryContext), False)


@analytics.command("on")
@json_option("Print the new state as JSON.")
@pass_library
def on(state: LibraryContext, as_json: bool) -> None:
    """Count feature use (kept in the library; sent only by an installed sink)."""
    Analytics.for_library(state.library).enable(source="cli")
    if as_json:
        echo_json({"enabled": True})
    else:
        click.echo("analytics on: counts per feature per day, no names, paths or contents")


@analytics.command("off")
@json_option("Print the new state as JSON.")
@pass_library
def off(state: LibraryContext, as_json: bool) -> None:
    """Stop counting and delete the counts not yet sent."""
    deleted = Analytics.for_library(state.library).disable(source="cli")
    if as_json:
        echo_json({"enabled": False, "deleted": deleted})
    else:
        click.echo(f"analytics off: nothing is counted; {deleted} unsent use(s) deleted")


@analytics.command("show")
@json_option("Print JSON: enabled, sinks, aggregates.")
@pass_library
def show(state: LibraryContext, as_json: bool) -> None:
    """Show the switch, the sinks and every stored count."""
    _show(state, as_json)
