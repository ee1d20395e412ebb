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
``PRINTMANAGER_TRACE_PLUGINS``
    Set (to anything but ``""`` or ``0``): every hook call, its arguments and its
    result are written to standard error (pluggy's tracing).

Entry points are found by :mod:`printmanager_core.entry_points` (the
distributions' own files, without importing ``importlib.metadata``) and loaded
and registered here, in the order pluggy's ``load_setuptools_entrypoints`` used;
the manager remembers each one's distribution (``list_plugin_distinfo``).

A plugin never takes the host down: one that fails to load is named in one
logged warning (with the ``PRINTMANAGER_BLOCK_PLUGINS`` name to use), recorded
(:func:`plugin_problems`, ``printmanager plugins``) and left out; a hook called
through :func:`call_hook_safely` or :func:`call_impl_safely` that raises is
treated the same way and the other plugins still run. A plugin whose extra is
not installed is off (:func:`plugins_off`), not broken.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from typing import Any, Callable, Mapping

import attrs
import pluggy

from . import hookspecs
from .plugin_manager import PluginManager
from .plugin_extras import PluginOff, extra_off

PROJECT = "printmanager"

#: Modules of the core that implement hooks, registered like any plugin.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "printmanager_core.readers.stl",
    "printmanager_core.readers.obj",
    "printmanager_core.readers.ply",
    "printmanager_core.readers.threemf.reader",
    "printmanager_core.readers.off",
    "printmanager_core.readers.amf",
    "printmanager_core.readers.gltf",
    "printmanager_core.readers.step",
    "printmanager_core.readers.gcode",
    "printmanager_core.readers.gcode3mf",
    "printmanager_core.readers.bgcode",
    "printmanager_core.cli.commands",
    "printmanager_core.privacy.plugin",
    "printmanager_core.printing.plugin",
)

#: The built-in reader modules: each implements only ``register_readers``, so it is
#: registered as a :class:`LazyReaderPlugin` and imported (with numpy and its
#: parsers) the first time readers are asked for, not at start-up.
LAZY_READER_PLUGINS: frozenset[str] = frozenset(m for m in DEFAULT_PLUGINS if m.startswith("printmanager_core.readers."))

#: The file-name endings each built-in reader module's readers take (lower-case, with the
#: dot, in the order the module registers them): lets :func:`~.readers.registered.reader_for`
#: import only the module a name needs while no other plugin registers readers.
#: ``tests/test_reader_extensions.py`` checks it against the modules' readers.
READER_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "printmanager_core.readers.stl": (".stl",),
    "printmanager_core.readers.obj": (".obj",),
    "printmanager_core.readers.ply": (".ply",),
    "printmanager_core.readers.threemf.reader": (".3mf",),
    "printmanager_core.readers.off": (".off",),
    "printmanager_core.readers.amf": (".amf",),
    "printmanager_core.readers.gltf": (".glb", ".gltf"),
    "printmanager_core.readers.step": (".step", ".stp"),
    "printmanager_core.readers.gcode": (".gcode", ".gco", ".g"),
    "printmanager_core.readers.gcode3mf": (".gcode.3mf",),
    "printmanager_core.readers.bgcode": (".bgcode",),
}

#: The core's command plugin: registered as a :class:`LazyCommandsPlugin`, so building the
#: plugin manager (a library's first ``reader_for``) does not import click and the CLI package.
COMMANDS_PLUGIN = "printmanager_core.cli.commands"


class LazyReaderPlugin:
    """A built-in reader module, registered under its module name without importing it.

    pluggy sees one hook implementation, ``register_readers``; the first call
    imports the module and hands ``register`` to the module's own
    ``register_readers``. A module that fails to import is then recorded as that
    plugin failing in ``register_readers`` (and stepped around) instead of at load.

    What the module registers is kept (:meth:`registered`) and handed out again on
    later calls: every registry built from this plugin holds the same reader objects.
    """

    def __init__(self, module_name: str):
        self.__name__ = module_name
        self._module: Any = None
        self._registered: list[tuple[tuple[Any, ...], dict[str, Any]]] | None = None

    def module(self) -> Any:
        """The reader module itself (imported on the first call)."""
        if self._module is None:
            self._module = importlib.import_module(self.__name__)
        return self._module

    def registered(self) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The ``register`` calls of the module's ``register_readers`` (made once): their
        positional and keyword arguments."""
        with _lock:
            if self._registered is None:
                calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
                self.module().register_readers(lambda *args, **kwargs: calls.append((args, kwargs)))
                self._registered = calls
            return self._registered

    @hookspecs.hookimpl
    def register_readers(self, register: Callable[..., None]) -> None:
        """The module's readers (see the module's own ``register_readers``)."""
        for args, kwargs in self.registered():
            register(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy reader plugin {self.__name__}>"


class LazyCommandsPlugin:
    """The core's commands plugin (:data:`COMMANDS_PLUGIN`), registered under its module name
    without importing it: the module lives in the CLI package, whose import loads click.

    pluggy sees one hook implementation, ``register_commands``; its call imports the
    module and hands ``cli`` to the module's own ``register_commands`` (a failing import is
    recorded as that plugin failing in the hook, as for :class:`LazyReaderPlugin`).
    """

    def __init__(self, module_name: str = COMMANDS_PLUGIN):
        self.__name__ = module_name

    def module(self) -> Any:
        """The commands module itself (imported on the first call)."""
        return importlib.import_module(self.__name__)

    @hookspecs.hookimpl
    def register_commands(self, cli: Any) -> None:
        """The core's commands (see the module's own ``register_commands``)."""
        self.module().register_commands(cli)

    def __repr__(self) -> str:
        return f"<lazy commands plugin {self.__name__}>"


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_tracing = False  # PRINTMANAGER_TRACE_PLUGINS was on when the manager was built
_version = 0  # see plugin_set_version()

log = logging.getLogger(__name__)

#: how a plugin is named in ``PRINTMANAGER_BLOCK_PLUGINS``
BLOCK_ENV = "PRINTMANAGER_BLOCK_PLUGINS"
#: the entry-point names to load (unset: all)
LOAD_ENV = "PRINTMANAGER_LOAD_PLUGINS"
#: write every hook call to standard error
TRACE_ENV = "PRINTMANAGER_TRACE_PLUGINS"


@attrs.define
class PluginProblem:
    """A plugin that failed: at load time (``where="load"``) or in a hook (``where`` is its name).

    :ivar plugin: the plugin's name, as ``PRINTMANAGER_BLOCK_PLUGINS`` takes it.
    :ivar where: ``"load"`` or the hook that raised.
    :ivar error: the exception, as ``"Type: message"``.
    :ivar count: how many times it failed there in this process.
    """

    plugin: str
    where: str
    error: str
    count: int = 1

    def line(self) -> str:
        """The one warning line that names the plugin and how to turn it off."""
        what = "failed to load" if self.where == "load" else f"failed in {self.where}"
        then = "not loaded" if self.where == "load" else "stepped around"
        return f"plugin {self.plugin!r} {what} ({self.error}); {then}. To turn it off: {BLOCK_ENV}={self.plugin}"

    def as_json(self) -> dict[str, Any]:
        """``{"plugin", "where", "error", "count"}``."""
        return {"plugin": self.plugin, "where": self.where, "error": self.error, "count": self.count}


_problems: dict[tuple[str, str], PluginProblem] = {}
_off: dict[str, PluginOff] = {}


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _env_on(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0")


def _blocked() -> set[str]:
    return set(_env_list(BLOCK_ENV) or [])


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, whatever the plugin put in its message
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def record_problem(plugin: str, where: str, exc: BaseException) -> PluginProblem:
    """Remember that ``plugin`` failed ``where``; the first time, log its one warning line.

    :param plugin: the plugin's name (as ``PRINTMANAGER_BLOCK_PLUGINS`` takes it).
    :param where: ``"load"`` or the name of the hook that raised.
    :param exc: what it raised.
    """
    with _lock:
        key = (plugin, where)
        known = _problems.get(key)
        if known is not None:
            known.count += 1
            return known
        problem = _problems[key] = PluginProblem(plugin, where, _describe(exc))
    log.warning("%s", problem.line())
    log.debug("plugin %s failed in %s", plugin, where, exc_info=exc)
    return problem


def plugin_problems() -> list[PluginProblem]:
    """Every plugin failure seen in this process (load failures and hooks that raised)."""
    with _lock:
        return list(_problems.values())


def plugins_off() -> list[PluginOff]:
    """Plugins not loaded because the extra they need is not installed."""
    get_plugin_manager()
    with _lock:
        return list(_off.values())


# -- loading -----------------------------------------------------------------------


def _new_manager() -> pluggy.PluginManager:
    pm = PluginManager(PROJECT)
    if _env_on(TRACE_ENV):
        _start_tracing(pm)
    pm.add_hookspecs(hookspecs)
    # each plugin adds its own specs as it is registered (pytest's pytest_addhooks)
    pm.hook.add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
    blocked = _blocked()
    for blocked_name in blocked:
        pm.set_blocked(blocked_name)
    for module_name in DEFAULT_PLUGINS:
        if module_name in blocked:
            continue
        if module_name in LAZY_READER_PLUGINS:  # imported on the first register_readers call
            _register_safely(pm, module_name, lambda name=module_name: LazyReaderPlugin(name))
            continue
        if module_name == COMMANDS_PLUGIN:  # imported (with click) when the CLI asks for commands
            _register_safely(pm, module_name, lambda name=module_name: LazyCommandsPlugin(name))
            continue
        _register_safely(pm, module_name, lambda name=module_name: importlib.import_module(name))
    _load_entry_points(pm)
    _check_pending(pm)
    return pm


def _register_safely(pm: pluggy.PluginManager, name: str, load: Callable[[], Any]) -> bool:
    """Load and register one plugin; a failure is recorded and the plugin stepped around."""
    try:
        plugin = load()
        if pm.is_registered(plugin):
            return False
        pm.register(plugin, name=name)
    except (Exception, SystemExit) as exc:  # a plugin must never take the host down
        if pm.has_plugin(name):
            pm.unregister(name=name)
        record_problem(name, "load", exc)
        return False
    return True


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Load and register the ``printmanager`` entry points.

    Skipped: the blocked names, names registered already, the ones left out by
    ``PRINTMANAGER_LOAD_PLUGINS`` and the ones whose extra is missing (those are
    listed by :func:`plugins_off`). One that fails to load or register is
    recorded and stepped around; the others still load.
    """
    from .entry_points import find

    allow = _env_list(LOAD_ENV)
    try:
        entry_points = find(PROJECT)
    except Exception as exc:  # not one plugin's fault (unreadable metadata): say so, load none
        record_problem("entry points", "load", exc)
        return
    for ep in entry_points:
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        if allow is not None and ep.name not in allow:
            continue
        off = extra_off(ep)
        if off is not None:
            _off[ep.name] = off
            log.info("%s", off.line())
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except (Exception, SystemExit) as exc:  # a plugin must never take the host down
            if pm.has_plugin(ep.name):  # registered, then refused by pluggy's validation
                pm.unregister(name=ep.name)
            record_problem(ep.name, "load", exc)
            continue
        # what pluggy's own loader records for list_plugin_distinfo(): the plugin and its
        # distribution (``project_name``, ``version``; the rest from importlib.metadata)
        pm._plugin_distinfo.append((plugin, ep.dist))  # type: ignore[arg-type]


def _check_pending(pm: pluggy.PluginManager) -> None:
    """pluggy's ``check_pending`` once every plugin (and so every plugin's specs) is in.

    A plugin implementing a hook nobody specifies (a typo, or a hook of a plugin
    that is blocked or absent, not marked ``optionalhook``) is unregistered and
    recorded like a plugin that failed to load; the others stay.
    """
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin)
            if name is None:  # not a registered plugin: nothing to step around
                record_problem(repr(exc.plugin), "load", exc)
                return
            pm.unregister(exc.plugin)
            message = str(exc).replace(repr(exc.plugin), repr(name))
            record_problem(name, "load", pluggy.PluginValidationError(exc.plugin, message))


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, creating it (and loading plugins) once.

    A plugin that fails to load is named in one warning (logged), recorded in
    :func:`plugin_problems` and left out; one whose extra is missing is listed by
    :func:`plugins_off`.
    """
    global _pm
    with _lock:
        if _pm is None:
            _pm = _new_manager()
        return _pm


def reset_plugin_manager() -> None:
    """Forget the plugin manager so the next call builds a new one (for tests)."""
    global _pm, _tracing
    with _lock:
        _pm = None
        _tracing = False
        _problems.clear()
        _off.clear()
        _plugin_set_changed()


def register_plugin(plugin: Any, name: str | None = None) -> str | None:
    """Register ``plugin`` (a module or object with hook implementations) by hand."""
    pm = get_plugin_manager()
    result = pm.register(plugin, name=name)
    pm.check_pending()
    _plugin_set_changed()
    return result


def unregister_plugin(name: str) -> None:
    """Unregister the plugin registered under ``name``."""
    pm = get_plugin_manager()
    pm.unregister(name=name)
    _plugin_set_changed()


def plugin_set_version() -> int:
    """A number that changes whenever plugins are registered or removed.

    What is built from the plugins (:mod:`printmanager_core.registry`) keeps the
    number it was built at and is built again when it differs.
    """
    return _version


def _plugin_set_changed() -> None:
    global _version
    with _lock:
        _version += 1


# -- tracing -------------------------------------------------------------------------


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
    except (OSError, ValueError):  # a closed stderr must not stop the command
        pass


def _start_tracing(pm: pluggy.PluginManager) -> None:
    """pluggy's tracing, written to standard error (``PRINTMANAGER_TRACE_PLUGINS``).

    Hooks called through pluggy are traced by ``enable_tracing``; the ones the core
    calls one implementation at a time (:func:`call_impl_safely`) are written to the
    same tracer, one entry per implementation.
    """
    global _tracing
    pm.trace.root.setwriter(_write_stderr)
    pm.enable_tracing()
    _tracing = True


def _tracer() -> Any:
    """The ``hook`` tracer when tracing is on, else None."""
    pm = _pm
    if pm is None or not _tracing:
        return None
    return pm.trace.root.get("hook")


# -- calling hooks so that one plugin cannot take the others down --------------------


def hook_implementations(hook_name: str) -> list[pluggy.HookImpl]:
    """The implementations of ``hook_name`` in the order pluggy calls them (no wrappers)."""
    caller = getattr(get_plugin_manager().hook, hook_name, None)
    if caller is None:  # a plugin's own hook, and that plugin is blocked or absent
        return []
    impls = []
    for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last one first
        if impl.hookwrapper or impl.wrapper:
            record_problem(impl.plugin_name, hook_name,
                           TypeError(f"wrappers are not supported on {hook_name}; the wrapper is not run"))
            continue
        impls.append(impl)
    return impls


def call_impl_safely(impl: pluggy.HookImpl, hook_name: str, kwargs: Mapping[str, Any]) -> tuple[bool, Any]:
    """Call one hook implementation; ``(True, result)``, or ``(False, None)`` after it raised.

    Only the arguments the implementation declares are passed (as pluggy does). A
    failure is recorded with :func:`record_problem`; ``KeyboardInterrupt`` still
    stops everything.
    """
    trace = _tracer()
    if trace is None:
        try:
            return True, impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            record_problem(impl.plugin_name, hook_name, exc)
            return False, None
    trace.root.indent += 1
    try:
        trace(hook_name, f"in plugin {impl.plugin_name!r}", dict(kwargs))
        try:
            result = impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            record_problem(impl.plugin_name, hook_name, exc)
            trace("failed", hook_name, "-->", _describe(exc))
            return False, None
        trace("finish", hook_name, "-->", result)
        return True, result
    finally:
        trace.root.indent -= 1


def call_hook_safely(hook_name: str, /, **kwargs: Any) -> list[Any]:
    """Call every implementation of ``hook_name``; one that raises is named, recorded and skipped.

    The others still run, in pluggy's order. Returns the results that are not
    None (for a ``firstresult`` hook, at most the first).

    :param hook_name: e.g. ``"file_added"``.
    :param kwargs: the hook's arguments, by name.
    """
    caller = getattr(get_plugin_manager().hook, hook_name, None)
    first = bool(caller is not None and caller.spec and caller.spec.opts.get("firstresult"))
    results = []
    for impl in hook_implementations(hook_name):
        ok, result = call_impl_safely(impl, hook_name, kwargs)
        if ok and result is not None:
            results.append(result)
            if first:
                break
    return results


# -- listing ---------------------------------------------------------------------------


def list_plugins() -> list[dict[str, Any]]:
    """Describe every plugin: registered ones, ones whose extra is missing, ones that failed.

    Each row has ``name``, ``distribution``, ``version``, ``builtin``, ``hooks`` and
    ``status`` (``"on"``, ``"off"``: its extra is not installed, ``install`` says what
    to install and ``needs`` what is missing; ``"failed"``: it did not load,
    ``error`` says why), and ``errors``: its failures in this process.
    """
    pm = get_plugin_manager()
    own_version = _version_of("printmanager")
    problems: dict[str, list[dict[str, Any]]] = {}
    for problem in plugin_problems():
        problems.setdefault(problem.plugin, []).append(problem.as_json())
    dists = {pm.get_name(plugin): (info.project_name, info.version) for plugin, info in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        if name in dists:
            dist, version = dists[name]
        elif name in DEFAULT_PLUGINS:
            dist, version = "printmanager", own_version
        else:
            dist, version = None, getattr(plugin, "__version__", None)
        rows.append(
            {
                "name": name,
                "distribution": dist,
                "version": version,
                "builtin": name in DEFAULT_PLUGINS or dist == "printmanager",
                "hooks": hooks,
                "status": "on",
                "errors": problems.get(name, []),
            }
        )
    with _lock:
        off = list(_off.values())
    for item in off:
        rows.append(
            {
                "name": item.plugin,
                "distribution": item.distribution,
                "version": _version_of(item.distribution),
                "builtin": item.distribution == "printmanager",
                "hooks": [],
                "status": "off",
                "install": item.install,
                "needs": list(item.needs),
                "errors": [],
            }
        )
    registered = {row["name"] for row in rows}
    for name, errors in problems.items():
        load = [e for e in errors if e["where"] == "load"]
        if name in registered or not load:
            continue
        dist = _dist_of_entry_point(name)
        rows.append(
            {
                "name": name,
                "distribution": dist,
                "version": _version_of(dist) if dist else None,
                "builtin": name in DEFAULT_PLUGINS or dist == "printmanager",
                "hooks": [],
                "status": "failed",
                "error": load[0]["error"],
                "errors": errors,
            }
        )
    return sorted(rows, key=lambda row: row["name"])


def _version_of(dist: str | None) -> str | None:
    from importlib import metadata

    if dist is None:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _dist_of_entry_point(name: str) -> str | None:
    from importlib import metadata

    for ep in metadata.entry_points(group=PROJECT, name=name):
        if ep.dist is not None:
            return str(ep.dist.metadata["Name"])
    return None


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every hook with a spec, the core's and the loaded plugins' own: name -> spec function."""
    pm = get_plugin_manager()
    specs = {}
    for name, caller in vars(pm.hook).items():
        if not name.startswith("_") and caller.spec is not None:
            specs[name] = caller.spec.function
    return dict(sorted(specs.items()))


def hook() -> Any:
    """Shortcut for ``get_plugin_manager().hook``."""
    return get_plugin_manager().hook
