"""``printmanager problems``: what is wrong in the library (docs/problems.md)."""

from __future__ import annotations

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .look import colour_on, paint, plural, table
from .output import echo_json, json_option
from .queryargs import QueryCommand, query_argument

#: severity → colour on a terminal
SEVERITY_COLOURS = {"error": "red", "warning": "yellow", "info": "cyan"}


@click.command("problems", cls=QueryCommand)
@query_argument()
@click.option("--kind", "kinds", multiple=True, metavar="KIND", help="Only problems of KIND (repeatable).")
@click.option("--severity", type=click.Choice(["error", "warning", "info"]),
              help="Only problems at least this severe.")
@json_option("Print a JSON array, one object per problem.")
@pass_library
def problems(state: LibraryContext, query: tuple[str, ...], kinds: tuple[str, ...], severity: str | None,
             as_json: bool) -> None:
    """List problems of the files matching QUERY and their models (all, and empty folders, without one)."""
    found = state.library.problems(" ".join(query), kinds=list(kinds) or None, severity=severity)
    if as_json:
        echo_json([p.as_json() for p in found])
        return
    on = colour_on()
    rows = [[p.severity, p.kind, printable(p.path), printable(p.detail)] for p in found]
    lines = table(rows, on=False)
    for p, line in zip(found, lines):
        head = len(p.severity)
        click.echo(paint(line[:head], SEVERITY_COLOURS.get(p.severity), on, bold=p.severity == "error") + line[head:])
    counts: dict[str, int] = {}
    for p in found:
        counts[p.severity] = counts.get(p.severity, 0) + 1
    summary = ", ".join(plural(counts[s], s) for s in ("error", "warning", "info") if s in counts)
    if on:  # the count is for people at a terminal; a pipe gets the problems only
        click.echo(f"{plural(len(found), 'problem')}" + (f" ({summary})" if summary else ""))
