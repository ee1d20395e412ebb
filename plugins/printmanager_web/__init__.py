"""printmanager's built-in web plugin: ``printmanager serve``, a local web gallery and JSON API.

Loopback by default; any other address needs the access token kept in the vault.
Pages: a thumbnail gallery searched with the query language, model pages with
figures in human units, a 3D preview (three.js, shipped in ``static/``), edits of
tags, notes and model fields. The JSON API has the shapes of ``--json``. Plugins add
routes through the ``register_routes`` hook. See ``docs/web.md``.

    from printmanager_web import create_app
    app = create_app(library)          # an ASGI app; ``printmanager serve`` runs it with uvicorn
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from printmanager_core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click
    import pluggy

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'printmanager_web' has no attribute {name!r}")


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``register_routes``) to the plugin manager."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    """``printmanager serve``."""
    from .cli import serve

    cli.add_command(serve)
