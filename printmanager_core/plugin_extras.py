"""Plugins that are off because the extra they need is not installed.

A plugin package may ship an entry point ``NAME`` and an extra ``NAME`` holding
what the plugin needs (as printmanager does for thumbnails, vault and sync);
without the extra, the plugin is off (:class:`PluginOff`) rather than broken.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import weakref
from typing import TYPE_CHECKING, Any, Callable

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from importlib import metadata

    from .entry_points import FoundEntryPoint

log = logging.getLogger("printmanager_core.plugins")


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


def missing_extra(ep: metadata.EntryPoint) -> PluginOff | None:
    """The extra named like ``ep`` that its distribution declares, if it is not installed.

    A plugin package may ship an entry point ``NAME`` and an extra ``NAME`` holding
    what the plugin needs (as printmanager does for thumbnails, vault and sync);
    without the extra, the plugin is off rather than broken.
    """
    dist = ep.dist
    if dist is None:
        return None
    return _off(ep.name, _requires(dist), lambda: dist)


def extra_off(ep: FoundEntryPoint) -> PluginOff | None:
    """:func:`missing_extra` for an entry point :func:`printmanager_core.entry_points.find`
    found (its distribution's requirement lines are read already)."""
    return _off(ep.name, ep.dist.requires, ep.dist.distribution)


def _off(name: str, requires: list[str] | None, dist: Callable[[], Any]) -> PluginOff | None:
    if not requires:
        return None
    try:
        if _all_installed(requires, name):
            return None  # the usual case, decided without parsing a marker
        distribution = dist()
        needs = _unmet(distribution, name, set())
    except Exception as exc:  # unreadable metadata: let loading show what is wrong
        log.debug("requirements of %s unreadable: %s", name, exc)
        return None
    if not needs:
        return None
    return PluginOff(name, distribution.metadata["Name"], name, tuple(needs))


#: each distribution's requirement lines, read once: ``Distribution.requires`` parses the
#: METADATA file on every call, and one distribution has an entry point per plugin
_requires_of: "weakref.WeakKeyDictionary[metadata.Distribution, list[str] | None]" = weakref.WeakKeyDictionary()


def _requires(dist: metadata.Distribution) -> list[str] | None:
    try:
        return _requires_of[dist]
    except (KeyError, TypeError):  # TypeError: a distribution that cannot be weakly referenced
        pass
    requires = dist.requires
    try:
        _requires_of[dist] = requires
    except TypeError:
        pass
    return requires


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
        if name is None or _normal(name.group()) not in _installed_names():
            return False
    return True


def _normal(name: str) -> str:
    """A project name normalised as PEP 503 says (``Foo_Bar`` and ``foo-bar`` are one)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def _installed_names() -> frozenset[str]:
    """Every installed distribution's normalised name, from one walk of the path (not one per
    requirement: each ``metadata.version`` call walks it again)."""
    names: set[str] = set()
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as listing:
                found = [e.name for e in listing if e.name.endswith(_METADATA_DIRS)]
        except OSError:  # not a folder (a zip on the path) or unreadable: metadata finds those
            found = None
        if found is None:
            continue
        names.update(_normal(_project_of(name)) for name in found)
    if not names:  # nothing on the path looks like site-packages: ask importlib (slower, always right)
        from importlib import metadata

        return frozenset(_normal(d.metadata["Name"] or "") for d in metadata.distributions())
    return frozenset(names)


_METADATA_DIRS = (".dist-info", ".egg-info")


def _project_of(directory: str) -> str:
    """The project name in a metadata folder's name: ``sqlite_utils-3.38.dist-info`` -> ``sqlite_utils``.

    The folder names are the ones importlib.metadata itself looks up (``NAME-VERSION.dist-info``,
    PEP 427 escaping, or ``NAME[-VERSION...].egg-info``); reading them instead of every
    distribution's METADATA file saves parsing ~100 e-mail-style headers at each start.
    """
    stem = directory.rsplit(".", 1)[0]
    return stem.split("-", 1)[0]


def _unmet(dist: metadata.Distribution, extra: str, seen: set[str]) -> list[str]:
    from importlib import metadata

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
