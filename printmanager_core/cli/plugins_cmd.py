"""``printmanager plugins``."""

from __future__ import annotations

import click

from . import echo_json


def register(cli: click.Group) -> None:
    """Add ``plugins`` to the CLI."""

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
    def plugins(as_json: bool) -> None:
        """List installed plugins: name, version and the hooks each implements."""
        from ..plugins import list_plugins

        rows = list_plugins()
        if as_json:
            echo_json(rows)
            return
        for row in rows:
            version = row["version"] or ""
            click.echo(f"{row['name']} {version}".rstrip())
            click.echo(f"    hooks: {', '.join(row['hooks']) or '(none)'}")
