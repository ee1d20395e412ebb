"""The pluggy plugin manager, with a quicker look at a module plugin's names.

pluggy looks at every name a plugin (or hookspec module) has, each through
:func:`inspect.getattr_static`, to find the marked functions: about 40 ms of CPU
over the ~600 names of the core's and the bundled plugins' modules, most of what
building the manager costs in a fresh process. Almost every one of those names
is a value in the module's own ``__dict__`` that cannot be a hook at all (a
class, a constant, an imported module) or a function without the marker, or an
instance plugin's name it has only from :class:`object` (``__init__``,
``__repr__``…), and :class:`PluginManager` answers those at once. Everything else goes
to pluggy as before, so the same hooks are found.
"""

from __future__ import annotations

import types
from typing import Any

import pluggy

__all__ = ["PluginManager"]

_ABSENT = object()
#: what pluggy can take a hook (or hookspec) from; any other value is skipped
_HOOKABLE = (types.FunctionType, staticmethod, classmethod, types.MethodType)


def _plainly_not_marked(namespace: object, name: str, marker: str) -> bool:
    """Whether ``name`` of a module ``namespace`` is certainly no function marked ``marker``.

    For a module, :func:`inspect.getattr_static` returns the value in the module's
    ``__dict__``, and pluggy skips every value that is not a function, static or
    class method or bound method, and a plain function whose own attributes hold
    no marker.
    """
    if not isinstance(namespace, types.ModuleType):
        return _inherited_from_object(namespace, name)
    value = namespace.__dict__.get(name, _ABSENT)
    if value is _ABSENT:
        return False
    if not isinstance(value, _HOOKABLE):
        return True
    return type(value) is types.FunctionType and marker not in value.__dict__


def _inherited_from_object(plugin: object, name: str) -> bool:
    """Whether ``name`` of an instance ``plugin`` is one it has only from :class:`object`
    (``__init__``, ``__repr__``…: a slot wrapper or built-in method, never a hook)."""
    if isinstance(plugin, type) or name not in object.__dict__:
        return False
    try:
        own = object.__getattribute__(plugin, "__dict__")
    except AttributeError:
        own = {}
    if not isinstance(own, dict) or name in own:
        return False
    return all(name not in vars(klass) for klass in type(plugin).__mro__[:-1])


class PluginManager(pluggy.PluginManager):
    """:class:`pluggy.PluginManager`, finding a module's hooks without pluggy's look at every name."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        """pluggy's answer, or None at once for a module name that plainly is no hook."""
        if _plainly_not_marked(plugin, name, self.project_name + "_impl"):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        """pluggy's answer, or None at once for a module name that plainly is no hookspec."""
        if _plainly_not_marked(module_or_class, name, self.project_name + "_spec"):
            return None
        return super().parse_hookspec_opts(module_or_class, name)
