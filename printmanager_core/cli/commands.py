"""Registers the core's CLI commands (one module per command group)."""

from __future__ import annotations

import importlib

import click

from ..hookspecs import hookimpl

#: modules of this package that define ``register(cli)``
COMMAND_MODULES = ("scan", "browse", "tags", "plugins_cmd", "settings_cmd", "analytics_cmd", "privacy_cmd")


@hookimpl
def register_commands(cli: click.Group) -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        module.register(cli)
