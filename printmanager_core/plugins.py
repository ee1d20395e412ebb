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
import re
import threading
from importlib import metadata
from typing import Any, Callable, Mapping

import attrs
import pluggy

from . import hookspecs

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
)

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None

log = logging.getLogger(__name__)

#: how a plugin is named in ``PRINTMANAGER_BLOCK_PLUGINS``
BLOCK_ENV = "PRINTMANAGER_BLOCK_PLUGINS"


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


@attrs.frozen
class PluginOff:
    """A plugin left unloaded because the extra it needs is not installed.

    :ivar plugin: the entry-point name (also the extra's name).
    :ivar distribution: the distribution that declares the entry point and the extra.
    :ivar extra: the extra to install.
    :ivar needs: the extra's requirements that are not installed.
    """

    plugin: str
    distribution: str
    extra: str
    needs: tuple[str, ...]

    @property
    def install(self) -> str:
        """What to install, e.g. ``printmanager[thumbnails]``."""
        return f"{self.distribution}[{self.extra}]"

    def line(self) -> str:
        """One line: which plugin is off and what to install."""
        return f"{self.plugin} plugin off: install '{self.install}' (needs {', '.join(self.needs)})"


_problems: dict[tuple[str, str], PluginProblem] = {}
_off: dict[str, PluginOff] = {}
_DISTS: dict[str, tuple[str, str]] = {}


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


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
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    # each plugin adds its own specs as it is registered (pytest's pytest_addhooks)
    pm.hook.add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
    blocked = _blocked()
    for blocked_name in blocked:
        pm.set_blocked(blocked_name)
    for module_name in DEFAULT_PLUGINS:
        if module_name in blocked:
            continue
        _register_safely(pm, module_name, lambda name=module_name: importlib.import_module(name))
    _load_entry_points(pm, blocked)
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
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            pm.unregister(exc.plugin)
            message = str(exc).replace(repr(exc.plugin), repr(name))
            record_problem(name, "load", pluggy.PluginValidationError(exc.plugin, message))


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str]) -> None:
    allow = _env_list("PRINTMANAGER_LOAD_PLUGINS")
    for ep in metadata.entry_points(group=PROJECT):
        if allow is not None and ep.name not in allow:
            continue
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        off = _missing_extra(ep)
        if off is not None:
            _off[ep.name] = off
            log.info("%s", off.line())
            continue
        if _register_safely(pm, ep.name, ep.load) and ep.dist is not None:
            _DISTS[ep.name] = (ep.dist.metadata["Name"], ep.dist.version)


def _missing_extra(ep: metadata.EntryPoint) -> PluginOff | None:
    """The extra named like ``ep`` that its distribution declares, if it is not installed.

    A plugin package may ship an entry point ``NAME`` and an extra ``NAME`` holding
    what the plugin needs (as printmanager does for thumbnails, vault and sync);
    without the extra, the plugin is off rather than broken.
    """
    dist = ep.dist
    if dist is None or not dist.requires:
        return None
    try:
        if _all_installed(dist.requires, ep.name):
            return None  # the usual case, decided without parsing a marker
        needs = _unmet(dist, ep.name, set())
    except Exception as exc:  # unreadable metadata: let loading show what is wrong
        log.debug("requirements of %s unreadable: %s", ep.name, exc)
        return None
    if not needs:
        return None
    return PluginOff(ep.name, dist.metadata["Name"], ep.name, tuple(needs))


_PROJECT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")  # PEP 508's name


def _all_installed(requires: list[str], extra: str) -> bool:
    """True when every requirement that may belong to ``extra`` is installed (a quick, safe pre-check).

    A requirement line that mentions ``extra`` anywhere counts; when all of them
    are installed, the extra is. Otherwise :func:`_unmet` decides, with packaging.
    """
    for line in requires:
        if extra not in line:
            continue
        name = _PROJECT_NAME.match(line)
        if name is None:
            return False
        try:
            metadata.version(name.group())
        except metadata.PackageNotFoundError:
            return False
    return True


def _unmet(dist: metadata.Distribution, extra: str, seen: set[str]) -> list[str]:
    from packaging.requirements import Requirement

    own = canonical(dist.metadata["Name"])
    missing: list[str] = []
    seen.add(extra)
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or not req.marker.evaluate({"extra": extra}) or req.marker.evaluate({"extra": ""}):
            continue  # not (only) part of this extra
        if canonical(req.name) == own:
            for inner in sorted(req.extras - seen):
                missing.extend(m for m in _unmet(dist, inner, seen) if m not in missing)
            continue
        try:
            metadata.version(req.name)
        except metadata.PackageNotFoundError:
            if req.name not in missing:
                missing.append(req.name)
    return missing


def canonical(name: str) -> str:
    """A distribution name compared the way pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


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
    global _pm
    with _lock:
        _pm = None
        _DISTS.clear()
        _problems.clear()
        _off.clear()
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
    try:
        return True, impl.function(*[kwargs[name] for name in impl.argnames])
    except Exception as exc:
        record_problem(impl.plugin_name, hook_name, exc)
        return False, None


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
    from . import __version__

    problems: dict[str, list[dict[str, Any]]] = {}
    for problem in plugin_problems():
        problems.setdefault(problem.plugin, []).append(problem.as_json())
    rows = []
    for name, plugin in pm.list_name_plugin():
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
    if dist is None:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _dist_of_entry_point(name: str) -> str | None:
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
