"""``printmanager plugins``."""

from __future__ import annotations

from typing import Any

import click

from .output import echo_json, json_option


def _label(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A short name for one thing a plugin passed to ``register``."""
    given = list(args) + list(kwargs.values())
    if given and isinstance(given[0], str):
        return given[0]
    value = given[-1] if given else None
    migrations = getattr(value, "_migrations", None)
    if isinstance(getattr(value, "name", None), str) and isinstance(migrations, list):  # a sqlite-utils Migrations
        steps = ", ".join(m.name for m in migrations)
        return f"{value.name} ({steps})" if steps else value.name
    for attr in ("key", "name", "path"):
        found = getattr(value, attr, None)
        if isinstance(found, str):
            return found
    return type(value).__name__


def _try_register_hooks() -> dict[str, dict[str, list[str]]]:
    """Call every ``register_*`` hook once: what each plugin registers, by plugin then hook.

    A plugin whose hook raises shows up in its row's errors (the call is recorded
    like any other failure).
    """
    from ..plugins import call_impl_safely, get_plugin_manager, hook_implementations

    pm = get_plugin_manager()
    found: dict[str, dict[str, list[str]]] = {}
    for name in sorted(vars(pm.hook)):
        if not name.startswith("register_") or name == "register_commands":  # commands: already added
            continue
        for impl in hook_implementations(name):
            labels: list[str] = []

            def register(*args: Any, _labels: list[str] = labels, **kwargs: Any) -> None:
                _labels.append(_label(args, kwargs))

            ok, _ = call_impl_safely(impl, name, {"register": register})
            if ok and labels:
                found.setdefault(impl.plugin_name, {})[name.removeprefix("register_")] = sorted(labels)
    return found


def _text(row: dict[str, Any]) -> list[str]:
    version = row["version"] or ""
    head = f"{row['name']} {version}".rstrip()
    if row["status"] == "off":
        return [f"{head}  (off: install '{row['install']}', needs {', '.join(row['needs'])})"]
    if row["status"] == "failed":
        return [f"{head}  (failed to load: {row['error']}; PRINTMANAGER_BLOCK_PLUGINS={row['name']} turns it off)"]
    lines = [head, f"    hooks: {', '.join(row['hooks']) or '(none)'}"]
    for what, names in row.get("registers", {}).items():
        lines.append(f"    {what.replace('_', ' ')}: {', '.join(names)}")
    for err in row["errors"]:
        times = f" ({err['count']} times)" if err["count"] > 1 else ""
        lines.append(f"    error in {err['where']}: {err['error']}{times}")
    return lines


@click.command("plugins")
@json_option("Print a JSON array.")
def plugins(as_json: bool) -> None:
    """List plugins: name, version, the hooks each implements and what it registers (settings,
    migration sets, readers, backends...); which are off or failed, and why."""
    from ..plugins import list_plugins

    registered = _try_register_hooks()
    rows = list_plugins()
    for row in rows:
        if row["status"] == "on":
            row["registers"] = registered.get(row["name"], {})
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        for line in _text(row):
            click.echo(line)
