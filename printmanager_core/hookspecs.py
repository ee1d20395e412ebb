"""Hook specifications for printmanager plugins.

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The project
name "printmanager" is used for the markers, the plugin manager and the
entry-point group. A plugin's own hooks (``make_thumbnail``,
``register_credential_stores``, ``register_sync_backends``) are specified in the
plugin and added through :func:`add_hookspecs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    import click

    from sqlite_utils.migrations import Migrations

    from .library import Library
    from .privacy.delete import DeleteReport
    from .privacy.export import Export
    from .privacy.retention import RetentionReport
    from .records import FileRecord, ScanOptions, ScanReport
    from .settings import Setting

hookspec = pluggy.HookspecMarker("printmanager")
hookimpl = pluggy.HookimplMarker("printmanager")


# --- plugins ---------------------------------------------------------------


@hookspec(historic=True)
def add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add this plugin's own hook specs: ``plugin_manager.add_hookspecs(module)``.

    Called once for each plugin as it is registered (pytest's ``pytest_addhooks``).

    :param plugin_manager: the ``printmanager`` plugin manager.
    """


# --- readers -------------------------------------------------------------


@hookspec
def register_readers(register: Callable[..., None]) -> None:
    """Register format readers: call ``register(reader)`` once per reader.

    :param register: callback taking an object that satisfies
        :class:`printmanager_core.readers.base.Reader`.
    """


# --- plugins' own schema and settings -----------------------------------


@hookspec
def register_migrations(register: "Callable[[Migrations], None]") -> None:
    """Register this plugin's schema migrations: call ``register(migrations)`` once per set.

    :param register: callback taking a ``sqlite_utils.Migrations`` named after the
        plugin; applied when a library opens, after the core's migrations.
    """


@hookspec
def register_settings(register: "Callable[[Setting], None]") -> None:
    """Register the settings this plugin owns: call ``register(Setting(key, default, ...))``.

    :param register: callback taking a :class:`printmanager_core.settings.Setting`
        whose key is ``"<plugin>.<name>"``.
    """


# --- command line --------------------------------------------------------


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add commands or command groups to the ``printmanager`` CLI.

    :param cli: the top-level click group.
    """


# --- catalogue events ----------------------------------------------------


@hookspec
def file_added(library: "Library", file: "FileRecord") -> None:
    """A file was catalogued for the first time.

    :param library: the library the file belongs to.
    :param file: the new file record.
    """


@hookspec
def file_changed(library: "Library", file: "FileRecord") -> None:
    """A catalogued file's content changed, or it was moved or renamed.

    :param library: the library the file belongs to.
    :param file: the updated file record.
    """


@hookspec
def file_moved(library: "Library", file: "FileRecord", old_path: str) -> None:
    """printmanager itself moved or renamed a catalogued file on disk (``organise`` and its undo).

    :param library: the library the file belongs to.
    :param file: the file record at its new place.
    :param old_path: the path ``file`` had before, spelled as ``file.path`` is (exact; an archive
        member's is ``<old archive path>!/<member>``).
    """


@hookspec
def file_removed(library: "Library", file: "FileRecord") -> None:
    """A catalogued file disappeared from disk and was marked missing.

    :param library: the library the file belongs to.
    :param file: the file record, now with ``missing`` set.
    """


@hookspec
def scan_finished(library: "Library", report: "ScanReport", options: "ScanOptions") -> None:
    """A scan finished (not called for an interrupted scan).

    :param library: the scanned library.
    :param report: the :class:`printmanager_core.records.ScanReport`.
    :param options: what the caller asked of the scan (:class:`printmanager_core.records.ScanOptions`).
    """


# --- privacy -------------------------------------------------------------


@hookspec
def register_analytics_sinks(register: Callable[..., None]) -> None:
    """Register analytics sinks that ship aggregate counters: ``register(sink)``.

    Sinks get aggregates only while the ``privacy.analytics`` switch is on.

    :param register: callback taking a sink with a ``name`` and
        ``send(aggregates) -> None`` (each aggregate has ``feature``, ``day``,
        ``count``; raise to say they were not delivered).
    """


@hookspec
def export_user_data(library: "Library", export: "Export") -> None:
    """Add what this plugin holds about the user to a privacy export.

    :param library: the library being exported.
    :param export: the :class:`printmanager_core.privacy.export.Export` being built: ``add_json(name, data, description)``,
        ``add_bytes(arcname, data, description="")``,
        ``add_file(arcname, path, description="")`` and ``include_cloud`` (bool);
        see ``docs/plugin_hooks.md``.
    """


@hookspec
def delete_user_data(library: "Library", report: "DeleteReport") -> None:
    """Delete everything this plugin holds about the user (never the user's model files).

    Runs before the core deletes the index; raise to stop the delete (the index is kept).

    :param library: the library being deleted.
    :param report: the :class:`printmanager_core.privacy.delete.DeleteReport`: call ``report.removed(what, count=1, detail="")`` for what was removed
        and ``report.could_not(what, why)`` for what could not be done (the delete goes on);
        see ``docs/plugin_hooks.md``.
    """


@hookspec
def apply_retention(library: "Library", report: "RetentionReport", now: "datetime | None") -> None:
    """Delete what this plugin keeps past its retention (e.g. expired share bundles).

    Called by ``Library.apply_retention`` (``printmanager privacy retention apply``)
    after the core's rules ran; add what went to ``report.removed[what] = count``.

    :param library: the library.
    :param report: the :class:`printmanager_core.privacy.retention.RetentionReport` being built.
    :param now: the moment the rules are applied at (None: now).
    """


@hookspec
def register_crash_report_sinks(register: Callable[..., None]) -> None:
    """Register sinks that send scrubbed crash reports: ``register(sink)``.

    Sinks get reports only while the ``privacy.crash_reports`` switch is on.

    :param register: callback taking a sink with a ``name`` and
        ``send(report: dict) -> None`` (raise to say it was not delivered).
    """


# --- printers -------------------------------------------------------------


@hookspec
def register_printer_connections(register: Callable[..., None]) -> None:
    """Register kinds of printer connection: ``register(kind, factory)``.

    :param register: callback taking a kind name (``"octoprint"``) and a factory
        ``factory(url, api_key)`` returning a connection with ``upload(path, name)``,
        ``start(name)``, ``status()`` and ``history()`` (see ``docs/plugin_hooks.md``).
    """
