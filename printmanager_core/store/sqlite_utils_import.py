"""Import sqlite-utils without importing numpy.

``sqlite_utils.db`` imports numpy (when installed) only to map numpy's scalar
types to column types (``COLUMN_TYPE_MAPPING``) for tables it creates from
values. numpy costs about 0.2 s of CPU, which a command that never touches an
array (``printmanager scan`` of an unchanged library, ``tag``, ``show``) paid at
start-up. :func:`import_sqlite_utils` imports sqlite-utils with numpy hidden
when numpy is not imported yet, and replaces that mapping with one that maps
numpy's types as soon as numpy is imported by anyone: until then no numpy
value can exist in the process, so nothing is looked up any differently.

It also loads sqlite-utils' own plugins (the ``sqlite_utils`` entry points,
which its ``Database`` loads on first use through ``importlib.metadata``, some
20 ms of CPU) with :func:`printmanager_core.entry_points.find`, which finds the
same entry points in the same order, registering them as pluggy's
``load_setuptools_entrypoints`` does.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["import_sqlite_utils"]

_lock = threading.Lock()

#: the numpy types sqlite-utils maps when it imports numpy itself (sqlite_utils/db.py)
_NUMPY_TYPES = {
    "int8": "INTEGER", "int16": "INTEGER", "int32": "INTEGER", "int64": "INTEGER",
    "uint8": "INTEGER", "uint16": "INTEGER", "uint32": "INTEGER", "uint64": "INTEGER",
    "float16": "REAL", "float32": "REAL", "float64": "REAL",
}  # fmt: skip


class _NumpyOnUse(dict):  # type: ignore[type-arg]
    """``COLUMN_TYPE_MAPPING`` that adds numpy's types on the first miss after numpy is imported."""

    def _add_numpy(self) -> bool:
        np = sys.modules.get("numpy")
        if np is None or getattr(self, "_numpy_added", False):
            return False
        self._numpy_added = True
        for name, column in _NUMPY_TYPES.items():
            t = getattr(np, name, None)
            if t is not None:
                self.setdefault(t, column)
        return True

    def __missing__(self, key: Any) -> str:
        if self._add_numpy() and key in self:
            return str(self[key])
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._add_numpy()
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or (self._add_numpy() and super().__contains__(key))


class _NumpyHidden:
    """A finder making ``import numpy`` fail in the importing thread only (other threads import it as usual)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "numpy" and threading.get_ident() == self.thread:
            raise ModuleNotFoundError("numpy is not imported with sqlite-utils", name=name)
        return None


def import_sqlite_utils() -> Any:
    """The ``sqlite_utils`` package, imported (once) without importing numpy."""
    with _lock:
        if "sqlite_utils.db" in sys.modules or "numpy" in sys.modules:
            import sqlite_utils

            return sqlite_utils
        hide = _NumpyHidden()
        sys.meta_path.insert(0, hide)
        try:
            import sqlite_utils
            import sqlite_utils.db as db
        finally:
            sys.meta_path.remove(hide)
        db.COLUMN_TYPE_MAPPING = _NumpyOnUse(db.COLUMN_TYPE_MAPPING)
        _load_plugins()
        return sqlite_utils


def _load_plugins() -> None:
    """sqlite-utils' ``ensure_plugins_loaded``, with the entry points found without importlib.metadata."""
    from sqlite_utils import plugins

    if plugins._plugins_loaded or getattr(sys, "_called_from_test", False):
        return
    from ..entry_points import find

    pm = plugins.pm
    for ep in find("sqlite_utils"):  # as pluggy's load_setuptools_entrypoints: a failure raises
        if pm.get_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        plugin = ep.load()
        pm.register(plugin, name=ep.name)
        pm._plugin_distinfo.append((plugin, ep.dist))  # type: ignore[arg-type]
    plugins._plugins_loaded = True
