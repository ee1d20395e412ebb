"""Plugins' own schema: migration sets from the ``register_migrations`` hook.

A plugin that keeps tables (or columns, or indexes) of its own ships a
``sqlite_utils.Migrations`` named after itself and registers it::

    migrations = Migrations("printmanager_thumbnails")

    @migrations()
    def m001_thumbnail_path(db): ...

    @hookimpl
    def register_migrations(register):
        register(migrations)

The core applies every registered set when a library opens, after its own
migrations (so a plugin's migration can rely on the core schema), each set in
one transaction. sqlite-utils records every applied migration with its set's
name in ``_sqlite_migrations``, so which plugin made what stays in the
database. The core settles clashes: the core's own set name (``printmanager``)
is refused, and when two plugins register sets of one name the first pluggy
calls keeps it (the other is named in a warning). A set whose migration
raises is rolled back, named (:func:`printmanager_core.plugins.plugin_problems`)
and stepped around: the library still opens, and the set is tried again next
time.

Once every set is applied, :func:`migrate_plugins_and_stamp` records the
schema stamp (:mod:`printmanager_core.store.stamp`): :func:`schema_key`, a key
of the migration code now running (the core's ``migrations.py`` and the files
of each plugin that implements ``register_migrations``, by path, size and
modification time). A command that only reads opens the library without
importing sqlite-utils or any migration set while the stamp holds the key the
code has (``Library(..., light=True)``); a changed, added or removed plugin, or
a changed migrations file, changes the key, and the library opens as before.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PrintManagerError, UsageError
from .store.stamp import CORE_MIGRATIONS, read_stamp, write_stamp

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

log = logging.getLogger(__name__)

HOOK = "register_migrations"


def _set_name(migrations: Any) -> str:
    from sqlite_utils.migrations import Migrations

    from .store.migrations import migrations as core_migrations

    if not isinstance(migrations, Migrations):
        raise UsageError(f"{HOOK} takes a sqlite_utils Migrations, not {migrations!r}")
    if migrations.name == core_migrations.name:
        raise UsageError(f"the migration set name {migrations.name!r} is the core's; name the set after the plugin")
    return migrations.name


def plugin_migrations() -> Any:
    """The registry of plugins' migration sets (set name → ``Migrations``, with the plugin that gave it)."""
    from .registry import collect

    return collect(HOOK, _set_name)


def migrate_plugins(db: Database) -> list[str]:
    """Apply every registered plugin migration that is pending; the ``set:migration`` names applied.

    Read-only (a few ``select``\\ s) when nothing is pending.
    """
    return _migrate(db)[0]


def migrate_plugins_and_stamp(db: Database) -> list[str]:
    """:func:`migrate_plugins`, then, when every set is applied, the schema stamp
    (:func:`schema_key`; written only when it changes). ``db`` has the core's
    migrations applied. A library that cannot be written (read-only, busy) is
    left unstamped: it opens the full way next time too.
    """
    applied, complete = _migrate(db)
    if complete:
        key = schema_key()
        if key is not None:
            try:
                if read_stamp(db) != key:
                    write_stamp(db, key)
            except (PrintManagerError, sqlite3.Error) as exc:
                log.debug("schema stamp not written: %s", exc)
    return applied


def _migrate(db: Database) -> tuple[list[str], bool]:
    """The migrations applied, and whether every set is now applied (none failed, and no
    plugin's ``register_migrations`` raised)."""
    from .plugins import plugin_problems, record_problem

    applied: list[str] = []
    complete = True
    for entry in plugin_migrations():
        migrations = entry.value
        try:
            pending = migrations.pending(db)
            if not pending:
                continue
            with db.conn:
                migrations.apply(db)
        except Exception as exc:  # a plugin's schema must not keep the library from opening
            record_problem(entry.plugin, HOOK, exc)
            complete = False
            continue
        applied += [f"{migrations.name}:{m.name}" for m in pending]
    if any(problem.where == HOOK for problem in plugin_problems()):
        complete = False
    return applied, complete


def schema_key() -> str | None:
    """The key of the migration code running now, for the schema stamp: the state (path,
    size, modification time) of the core's ``migrations.py`` and of the files of each plugin
    implementing ``register_migrations`` (its top-level package, or its module), in pluggy's
    call order. None when a state cannot be read (no source file), or a plugin with
    migrations is an object registered by hand (not a module, not an entry point's): such
    code never uses the stamp.

    Reads no plugin's migrations: implementing the hook is enough to be in the key, so a
    plugin's set changes the key whenever the plugin's files change (or it is added,
    removed or blocked). The plugins' part is read once per plugin set
    (:func:`~printmanager_core.plugins.plugin_set_version`): the code a process loaded
    does not change under it.
    """
    core = _files_state([CORE_MIGRATIONS])
    plugins = _plugins_state()
    if core is None or plugins is None:
        return None
    return "\n".join([core, *plugins])  # compared whole (hashlib would load OpenSSL: ~20 ms)


#: the plugins' part of the key, for the plugin set it was made from (a CLI command opens
#: the library twice: for the command and for its after-command hooks)
_plugins_key: tuple[int, list[str] | None] | None = None


def _plugins_state() -> list[str] | None:
    global _plugins_key
    from .plugins import get_plugin_manager, hook_implementations, plugin_set_version

    pm = get_plugin_manager()
    version = plugin_set_version()
    if _plugins_key is not None and _plugins_key[0] == version:
        return _plugins_key[1]
    from_entry_points = {id(plugin) for plugin, _ in pm.list_plugin_distinfo()}
    parts: list[str] | None = []
    for impl in hook_implementations(HOOK):
        if not isinstance(impl.plugin, types.ModuleType) and id(impl.plugin) not in from_entry_points:
            parts = None  # an object registered by hand: its sets need not follow any file
            break
        files = _plugin_files(impl.plugin)
        state = None if files is None else _files_state(files)
        if state is None:
            parts = None
            break
        parts.append(f"{impl.plugin_name} {state}")
    _plugins_key = (version, parts)
    return parts


def _plugin_files(plugin: Any) -> list[Path] | None:
    """The source files of a plugin: its top-level package's ``.py`` files (its subpackages'
    too), or its own file for a top-level module; None when it has no file."""
    module = plugin if isinstance(plugin, types.ModuleType) else sys.modules.get(type(plugin).__module__)
    name = getattr(module, "__name__", None)
    top = sys.modules.get(name.partition(".")[0]) if isinstance(name, str) else None
    file = getattr(top, "__file__", None)
    if not file:
        return None
    path = Path(file)
    return _package_files(path.parent) if path.name == "__init__.py" else [path]


def _package_files(directory: Path) -> list[Path]:
    files: list[Path] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.endswith(".py"):
                files.append(Path(entry.path))
            elif entry.is_dir() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                files += _package_files(Path(entry.path))
    return files


def _files_state(files: list[Path]) -> str | None:
    try:
        stats = [(str(f), f.stat()) for f in sorted(files)]
    except OSError:
        return None
    return ";".join(f"{name}:{st.st_size}:{st.st_mtime_ns}" for name, st in stats)
