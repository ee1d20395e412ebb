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
"""

from __future__ import annotations

import logging
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import UsageError
from .store.migrations import migrations as core_migrations

log = logging.getLogger(__name__)

HOOK = "register_migrations"


def _set_name(migrations: Any) -> str:
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
    from .plugins import record_problem

    applied: list[str] = []
    for entry in plugin_migrations():
        migrations: Migrations = entry.value
        try:
            pending = migrations.pending(db)
            if not pending:
                continue
            with db.conn:
                migrations.apply(db)
        except Exception as exc:  # a plugin's schema must not keep the library from opening
            record_problem(entry.plugin, HOOK, exc)
            continue
        applied += [f"{migrations.name}:{m.name}" for m in pending]
    return applied
