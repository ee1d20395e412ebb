"""The plugin manager, the built-in plugin list, and plugin listing.

Third-party plugins (and our own plugin packages under ``plugins/``) are found
through the ``printmanager`` entry-point group. They are loaded lazily, once,
the first time :func:`get_plugin_manager` is called.

Environment variables:

``PRINTMANAGER_LOAD_PLUGINS``
    Comma-separated entry-point names to load; all others are skipped. Set to an
    empty string to load no entry-point plugins at all. Unset: load all.
``PRINTMANAGER_BLOCK_PLUGINS``
    Comma-separated plugin names (entry-point names or module names) never to
    register, built-in ones included.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs

PROJECT = "printmanager"

#: Modules of the core that implement hooks, registered like any plugin.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "printmanager_core.readers.stl",
    "printmanager_core.readers.obj",
    "printmanager_core.readers.ply",
    "printmanager_core.readers.threemf",
    "printmanager_core.readers.off",
    "printmanager_core.readers.amf",
    "printmanager_core.readers.gltf",
    "printmanager_core.readers.step",
    "printmanager_core.readers.gcode",
    "printmanager_core.readers.bgcode",
    "printmanager_core.cli.commands",
    "printmanager_core.privacy.plugin",
)

_lock = threading.Lock()
_pm: pluggy.PluginManager | None = None


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _blocked() -> set[str]:
    return set(_env_list("PRINTMANAGER_BLOCK_PLUGINS") or [])


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = _blocked()
    for blocked_name in blocked:
        pm.set_blocked(blocked_name)
    for module_name in DEFAULT_PLUGINS:
        if module_name in blocked:
            continue
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
    _load_entry_points(pm, blocked)
    pm.check_pending()
    return pm


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str]) -> None:
    allow = _env_list("PRINTMANAGER_LOAD_PLUGINS")
    for ep in metadata.entry_points(group=PROJECT):
        if allow is not None and ep.name not in allow:
            continue
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        plugin = ep.load()
        if pm.is_registered(plugin):
            continue
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            _DISTS[ep.name] = (ep.dist.metadata["Name"], ep.dist.version)


_DISTS: dict[str, tuple[str, str]] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, creating it (and loading plugins) once."""
    global _pm
    with _lock:
        if _pm is None:
            _pm = _new_manager()
        return _pm


def reset_plugin_manager() -> None:
    """Forget the plugin manager so the next call builds a new one (for tests)."""
    global _pm
    with _lock:
        _pm = None
        _DISTS.clear()
    from . import registry

    registry.clear_caches()


def register_plugin(plugin: Any, name: str | None = None) -> str | None:
    """Register ``plugin`` (a module or object with hook implementations) by hand."""
    pm = get_plugin_manager()
    result = pm.register(plugin, name=name)
    pm.check_pending()
    from . import registry

    registry.clear_caches()
    return result


def unregister_plugin(name: str) -> None:
    """Unregister the plugin registered under ``name``."""
    pm = get_plugin_manager()
    pm.unregister(name=name)
    from . import registry

    registry.clear_caches()


def list_plugins() -> list[dict[str, Any]]:
    """Describe every registered plugin: name, version, hooks it implements."""
    pm = get_plugin_manager()
    from . import __version__

    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda np: np[0]):
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        if name in _DISTS:
            dist, version = _DISTS[name]
        elif name in DEFAULT_PLUGINS:
            dist, version = "printmanager", __version__
        else:
            dist, version = None, getattr(plugin, "__version__", None)
        rows.append(
            {
                "name": name,
                "distribution": dist,
                "version": version,
                "builtin": name in DEFAULT_PLUGINS or dist == "printmanager",
                "hooks": hooks,
            }
        )
    return rows


def hook() -> Any:
    """Shortcut for ``get_plugin_manager().hook``."""
    return get_plugin_manager().hook

