"""``printmanager plugins``."""

from __future__ import annotations

from typing import Any

import click

from .output import echo_json, json_option


def _try_register_hooks() -> None:
    """Call every ``register_*`` hook once so a plugin whose hook raises shows up here."""
    from ..plugins import call_hook_safely, get_plugin_manager

    pm = get_plugin_manager()
    for name in sorted(vars(pm.hook)):
        if name.startswith("register_") and name != "register_commands":  # commands: already added
            call_hook_safely(name, register=lambda *args, **kwargs: None)


def _text(row: dict[str, Any]) -> list[str]:
    version = row["version"] or ""
    head = f"{row['name']} {version}".rstrip()
    if row["status"] == "off":
        return [f"{head}  (off: install '{row['install']}', needs {', '.join(row['needs'])})"]
    if row["status"] == "failed":
        return [f"{head}  (failed to load: {row['error']}; PRINTMANAGER_BLOCK_PLUGINS={row['name']} turns it off)"]
    lines = [head, f"    hooks: {', '.join(row['hooks']) or '(none)'}"]
    for err in row["errors"]:
        times = f" ({err['count']} times)" if err["count"] > 1 else ""
        lines.append(f"    error in {err['where']}: {err['error']}{times}")
    return lines


@click.command("plugins")
@json_option("Print a JSON array.")
def plugins(as_json: bool) -> None:
    """List plugins: name, version, the hooks each implements; which are off or failed, and why."""
    from ..plugins import list_plugins

    _try_register_hooks()
    rows = list_plugins()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        for line in _text(row):
            click.echo(line)
