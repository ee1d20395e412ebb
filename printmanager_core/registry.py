"""Registries for things plugins supply through ``register`` callbacks.

The core, not the plugin, handles name clashes and remembers which plugin gave
what (the llm pattern). A registry is built once from the hook and cached until
the plugin set changes (:func:`clear_caches`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Generic, Iterator, TypeVar

import attrs

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


_cache: dict[str, Registry[Any]] = {}


def collect(hook_name: str, name_of: Callable[..., str]) -> Registry[Any]:
    """Build (once) the registry for the ``hook_name`` hook.

    :param hook_name: e.g. ``"register_readers"``.
    :param name_of: turns the arguments a plugin passed to ``register`` into the
        registered name; the stored value is the single argument, or the last one
        when several are given.
    """
    if hook_name in _cache:
        return _cache[hook_name]
    from .plugins import get_plugin_manager

    pm = get_plugin_manager()
    registry: Registry[Any] = Registry(hook_name)
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        # get_hookimpls() lists oldest first; pluggy calls newest (and tryfirst) first.
        plugin_name = impl.plugin_name

        def register(*args: Any, _plugin: str = plugin_name, **kwargs: Any) -> None:
            name = name_of(*args, **kwargs)
            value = args[-1] if args else next(iter(kwargs.values()))
            entry = Entry(name, value, _plugin)
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

        impl.function(register=register)
    _cache[hook_name] = registry
    return registry


def clear_caches() -> None:
    """Forget every built registry (after plugins are registered or removed)."""
    _cache.clear()
