"""The core's commands, added to the CLI as a plugin of ``register_commands``.

Each command (or group) is defined at module level in its own module of this
package; this plugin only adds them, in the order ``--help`` does not care about
(click lists commands sorted).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click


#: every core command: its name on the command line, and where it is defined (module of
#: this package, attribute); a command line naming one of them imports only that module
CORE_COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("scan", "scan"), "roots": ("roots_cmd", "roots"), "ls": ("ls", "ls"), "models": ("models", "models"),
    "duplicates": ("duplicates", "duplicates"), "show": ("show", "show"),
    "problems": ("problems_cmd", "problems"), "tag": ("tag", "tag"), "untag": ("tag", "untag"),
    "tags": ("tags", "tags"), "note": ("note", "note"), "model-set": ("model_set", "model_set"),
    "collection": ("collection", "collection"), "plugins": ("plugins_cmd", "plugins"),
    "settings": ("settings_cmd", "settings"), "analytics": ("analytics_cmd", "analytics"),
    "privacy": ("privacy_cmd", "privacy"), "print": ("print_cmd", "print_group"),
    "open": ("open_cmd", "open_cmd"), "slice": ("slice_cmd", "slice_cmd"), "organise": ("organise_cmd", "organise"),
    "watch": ("watch_cmd", "watch"), "sidecar": ("sidecar_cmd", "sidecar"),
}  # fmt: skip


def core_command(name: str) -> click.Command:
    """The core command called ``name`` (a key of :data:`CORE_COMMANDS`), importing only its module."""
    module, attribute = CORE_COMMANDS[name]
    command: click.Command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
    return command


def core_commands() -> list[click.Command]:
    """Every command of the core: imported here, so a library that never runs the CLI never loads them."""
    return [core_command(name) for name in CORE_COMMANDS]


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the core's commands."""
    for command in core_commands():
        cli.add_command(command)
