"""The entry points of one group, found without importing ``importlib.metadata``.

``importlib.metadata`` (with the ``email``, ``zipfile`` and ``csv`` modules it
imports) costs more at start-up than reading the few files a plugin lookup
needs. :func:`find` walks the folders on ``sys.path`` as ``importlib.metadata``
does (each ``NAME-VERSION.dist-info`` folder, in the order the folder lists
them, grouped by project and the first of a project winning), reads each one's
``entry_points.txt``, and for the distributions declaring the group reads
``METADATA`` (name, version, requirements). Nothing is cached between
processes: a plugin installed, removed or changed is found as it is now.

Whenever the path holds something this walk does not read the way
``importlib.metadata`` does (a zip file, an ``.egg``, an ``.egg-info`` folder
declaring the group, a finder on ``sys.meta_path`` of its own that finds
distributions), :func:`find` asks ``importlib.metadata`` instead, so the answer
is always the same as its ``entry_points(group=...)``.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from typing import Any

__all__ = ["DistInfo", "FoundEntryPoint", "find"]

#: importlib.metadata's pattern for an entry point's value: ``module[:attr.attr] [extras]``
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class DistInfo:
    """A distribution holding an entry point: its name and version, its requirement lines,
    and (on first use of anything else) the ``importlib.metadata`` distribution itself.

    Stands where pluggy's ``DistFacade`` stood in ``list_plugin_distinfo()``:
    ``project_name`` and ``version``, and every other attribute from the distribution.
    """

    def __init__(self, name: str, version: str | None, requires: list[str] | None, path: str | None,
                 dist: Any = None):
        self.project_name = name
        self.version = version
        self.requires = requires
        self.path = path
        self._dist = dist

    def distribution(self) -> Any:
        """The ``importlib.metadata`` distribution (read on first use)."""
        if self._dist is None:
            from importlib import metadata

            self._dist = metadata.PathDistribution(_path(self.path))
        return self._dist

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.distribution(), name)

    def __repr__(self) -> str:
        return f"<DistInfo {self.project_name} {self.version}>"


def _path(path: str | None) -> Any:
    from pathlib import Path

    return Path(path or ".")


class FoundEntryPoint:
    """One entry point: ``name = value`` in ``group``, declared by :attr:`dist`."""

    def __init__(self, name: str, value: str, group: str, dist: DistInfo):
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist

    def load(self) -> Any:
        """Import the object the value names, as ``importlib.metadata.EntryPoint.load`` does."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r}: {self.value!r} names no module")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)

    def __repr__(self) -> str:
        return f"<FoundEntryPoint {self.name} = {self.value} ({self.group})>"


def find(group: str) -> list[FoundEntryPoint]:
    """Every entry point of ``group`` on ``sys.path``, in ``importlib.metadata``'s order."""
    found = _walk(group)
    if found is None:
        return _from_importlib(group)
    return found


def _from_importlib(group: str) -> list[FoundEntryPoint]:
    from importlib import metadata

    out = []
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        info = (DistInfo(dist.metadata["Name"], dist.version, dist.requires, None, dist) if dist is not None
                else DistInfo("", None, None, None))
        out.append(FoundEntryPoint(ep.name, ep.value, group, info))
    return out


def _normal(name: str) -> str:
    """importlib.metadata's ``Prepared.normalize``."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _own_finders() -> bool:
    """Whether a finder on ``sys.meta_path`` other than the standard path finder finds distributions."""
    from importlib.machinery import PathFinder

    return any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path)


def _walk(group: str) -> list[FoundEntryPoint] | None:
    """The entry points, or None when the path holds what only importlib.metadata reads."""
    if _own_finders():
        return None
    header = f"[{group}]"
    seen: set[str] = set()
    found: list[FoundEntryPoint] = []
    for entry in sys.path:
        root = entry or "."
        if not isinstance(root, str):
            return None
        try:
            children = os.listdir(root)
        except OSError:
            if os.path.isfile(root):  # a zip on the path: importlib.metadata reads inside it
                return None
            continue
        if os.path.basename(root).lower().endswith(".egg"):
            return None
        infos: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                infos.setdefault(_normal(low.rpartition(".")[0].partition("-")[0]), []).append(child)
        for project, folders in infos.items():
            for folder in folders:
                if project in seen:
                    continue  # a later copy of a project importlib.metadata already found
                seen.add(project)
                path = os.path.join(root, folder)
                try:
                    with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as fh:
                        text = fh.read()
                except OSError:  # none (or an .egg-info file): no entry points
                    continue
                if header not in text:
                    continue
                if folder.lower().endswith(".egg-info"):
                    return None  # its metadata is PKG-INFO and requires.txt: importlib.metadata's job
                dist = _dist_info(path)
                found += [FoundEntryPoint(name, value, group, dist) for name, value in _section(text, group)]
    return found


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` pairs of ``[group]`` in an ``entry_points.txt``."""
    pairs: list[tuple[str, str]] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        if current == group and "=" in line:
            name, value = line.split("=", 1)
            pairs.append((name.strip(), value.strip()))
    return pairs


def _dist_info(path: str) -> DistInfo:
    """Name, version and ``Requires-Dist`` lines from a ``.dist-info`` folder's METADATA headers."""
    headers: list[list[str]] = []
    try:
        with open(os.path.join(path, "METADATA"), encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                if not line:
                    break  # the body (the long description) starts
                if line[0] in " \t" and headers:
                    headers[-1][1] += " " + line.strip()
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    headers.append([key.strip().lower(), value.strip()])
    except OSError:
        pass
    values: dict[str, list[str]] = {}
    for key, value in headers:
        values.setdefault(key, []).append(value)
    requires = values.get("requires-dist")
    return DistInfo(values.get("name", [""])[0], values.get("version", [None])[0], requires, path)
