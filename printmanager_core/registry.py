"""Registries for things plugins supply through ``register`` callbacks.

The core, not the plugin, handles name clashes and remembers which plugin gave
what (the llm pattern). A registry is built once from the hook and cached until
the plugin set changes (:func:`printmanager_core.plugins.plugin_set_version`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Generic, Iterator, TypeVar

import attrs

from .plugins import call_impl_safely, hook_implementations, plugin_set_version

log = logging.getLogger(__name__)

T = TypeVar("T")


@attrs.define
class Entry(Generic[T]):
    """One registered thing: its name, the object, and the plugin that gave it."""

    name: str
    value: T
    plugin: str


@attrs.define
class Registry(Generic[T]):
    """Named things collected from one ``register_*`` hook.

    When two plugins register the same name, the one pluggy calls first wins
    (plugins registered later are called first, so a third-party plugin can
    replace a built-in one); the loser is kept in :attr:`clashes`.
    """

    hook_name: str
    entries: dict[str, Entry[T]] = attrs.field(factory=dict)
    clashes: list[Entry[T]] = attrs.field(factory=list)
    #: room for lookups derived from the entries (dropped with the registry)
    derived: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self.entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, name: str) -> T:
        """Return the thing registered as ``name``; KeyError with the known names if absent."""
        try:
            return self.entries[name].value
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise KeyError(f"no {self.hook_name} named {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self.entries)


_cache: dict[str, tuple[int, Registry[Any]]] = {}


def collect(hook_name: str, name_of: Callable[..., str]) -> Registry[Any]:
    """Build (once) the registry for the ``hook_name`` hook.

    :param hook_name: e.g. ``"register_readers"``.
    :param name_of: turns the arguments a plugin passed to ``register`` into the
        registered name; the stored value is the single argument, or the last one
        when several are given.

    A plugin whose hook raises (or whose ``register`` call ``name_of`` cannot
    read) is named in one warning, recorded
    (:func:`printmanager_core.plugins.plugin_problems`) and left out of the
    registry; the other plugins' entries stay.
    """
    version = plugin_set_version()
    cached = _cache.get(hook_name)
    if cached is not None and cached[0] == version:
        return cached[1]
    registry: Registry[Any] = Registry(hook_name)
    for impl in hook_implementations(hook_name):  # pluggy's call order: newest (and tryfirst) first
        plugin_name = impl.plugin_name
        given: list[Entry[Any]] = []

        def register(*args: Any, _plugin: str = plugin_name, _given: list[Entry[Any]] = given,
                     **kwargs: Any) -> None:
            name = name_of(*args, **kwargs)
            value = args[-1] if args else next(iter(kwargs.values()))
            entry = Entry(name, value, _plugin)
            _given.append(entry)
            if name in registry.entries:
                registry.clashes.append(entry)
                log.warning(
                    "%s: %r from %s ignored; %s registered it first",
                    hook_name,
                    name,
                    _plugin,
                    registry.entries[name].plugin,
                )
                return
            registry.entries[name] = entry

        ok, _ = call_impl_safely(impl, hook_name, {"register": register})
        if not ok:  # the plugin is stepped around: nothing it registered before raising is kept
            _forget(registry, given)
    _cache[hook_name] = (version, registry)
    return registry


def cached(hook_name: str) -> Registry[Any] | None:
    """The registry of ``hook_name`` if it was built for the current plugin set, else None
    (nothing is built)."""
    found = _cache.get(hook_name)
    if found is not None and found[0] == plugin_set_version():
        return found[1]
    return None


def _forget(registry: Registry[Any], given: list[Entry[Any]]) -> None:
    for entry in given:
        if registry.entries.get(entry.name) is entry:
            del registry.entries[entry.name]
        else:
            registry.clashes[:] = [c for c in registry.clashes if c is not entry]


def clear_caches() -> None:
    """Forget every built registry (after plugins are registered or removed)."""
    _cache.clear()
