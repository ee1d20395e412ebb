"""The plugin manager's quick look at names finds exactly the hooks pluggy's own finds."""

from __future__ import annotations

import types

import pluggy

from printmanager_core import hookspecs, plugins
from printmanager_core.plugin_manager import PluginManager


def _found(pm: pluggy.PluginManager) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, tuple[str, ...]]]]:
    hooks = {name: h for name, h in vars(pm.hook).items() if isinstance(h, pluggy.HookCaller)}
    impls = sorted((name, i.plugin_name, i.function.__qualname__, repr(sorted(i.opts.items())))
                   for name, h in hooks.items() for i in h.get_hookimpls())  # fmt: skip
    specs = sorted((name, repr(sorted(h.spec.opts.items())), tuple(h.spec.argnames)) for name, h in hooks.items() if h.spec)
    return impls, specs


def test_the_installed_plugins_give_the_same_hooks_as_pluggys_manager(monkeypatch) -> None:
    ours = plugins._new_manager()
    assert type(ours) is PluginManager
    monkeypatch.setattr(plugins, "PluginManager", pluggy.PluginManager)
    theirs = plugins._new_manager()
    assert type(theirs) is pluggy.PluginManager
    impls, specs = _found(ours)
    assert (impls, specs) == _found(theirs)
    assert any(name == "register_readers" for name, *_ in impls) and specs


class _Instance:
    @hookspecs.hookimpl
    def register_readers(self, register):  # noqa: ANN001, ANN201
        return None

    @staticmethod
    @hookspecs.hookimpl
    def register_commands(cli):  # noqa: ANN001, ANN201
        return None

    def __repr__(self) -> str:  # overrides object's: looked at by pluggy
        return "instance"


def test_marked_functions_methods_and_overridden_names_are_still_found() -> None:
    module = types.ModuleType("pm_test_plugin")

    @hookspecs.hookimpl
    def register_readers(register):  # noqa: ANN001, ANN202
        return None

    def register_commands(cli):  # noqa: ANN001, ANN202 - not marked: not a hook
        return None

    module.register_readers = register_readers
    module.register_commands = register_commands
    module.CONSTANT = 3
    module.helper_class = _Instance
    for cls in (PluginManager, pluggy.PluginManager):
        pm = cls("printmanager")
        pm.add_hookspecs(hookspecs)
        pm.register(module, name="module")
        pm.register(_Instance(), name="instance")
        assert sorted((i.plugin_name, i.function.__name__) for i in pm.hook.register_readers.get_hookimpls()) == [
            ("instance", "register_readers"), ("module", "register_readers")]
        assert [i.plugin_name for i in pm.hook.register_commands.get_hookimpls()] == ["instance"]
