"""Hook specifications for printmanager plugins.

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The project
name "printmanager" is used for the markers, the plugin manager and the
entry-point group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

    from sqlite_utils.migrations import Migrations

    from .library import Library
    from .records import FileRecord
    from .settings import Setting

hookspec = pluggy.HookspecMarker("printmanager")
hookimpl = pluggy.HookimplMarker("printmanager")


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
def file_removed(library: "Library", file: "FileRecord") -> None:
    """A catalogued file disappeared from disk and was marked missing.

    :param library: the library the file belongs to.
    :param file: the file record, now with ``missing`` set.
    """


@hookspec
def scan_finished(library: "Library", report: Any) -> None:
    """A scan finished (not called for an interrupted scan).

    :param library: the scanned library.
    :param report: the :class:`printmanager_core.records.ScanReport`.
    """


# --- thumbnails ----------------------------------------------------------


@hookspec(firstresult=True)
def make_thumbnail(library: "Library", file: "FileRecord", size: int) -> Any:
    """Make a thumbnail of ``file`` at most ``size`` pixels square, or return None.

    Plugins are tried in order (``tryfirst``/``trylast``); the first result that is
    not None wins.

    :param library: the library the file belongs to.
    :param file: the file record to picture.
    :param size: the edge length in pixels of the square thumbnail wanted.
    :returns: a thumbnail object (see the thumbnails plugin) or None.
    """


# --- web -----------------------------------------------------------------


@hookspec
def register_routes(register: Callable[..., None]) -> None:
    """Add routes to the web app of ``printmanager serve``: call ``register(route)``.

    :param register: callback taking a Starlette ``Route`` or ``Mount`` (its
        ``path`` is its name); the app's guards (token, CSRF, read-only) apply to it
        (see ``docs/plugin_hooks.md``).
    """


# --- credentials ---------------------------------------------------------


@hookspec
def register_credential_stores(register: Callable[..., None]) -> None:
    """Register credential-store backends: call ``register(store_factory)``.

    :param register: callback taking a factory with a ``name`` attribute that,
        called with no arguments, returns a credential store (see ``docs/plugin_hooks.md``).
    """


# --- sync ----------------------------------------------------------------


@hookspec
def register_sync_backends(register: Callable[..., None]) -> None:
    """Register sync backends: call ``register(name, backend_factory)``.

    :param register: callback taking a backend name and a factory
        ``factory(config, library) -> backend`` (see ``docs/plugin_hooks.md``).
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
def export_user_data(library: "Library", export: Any) -> None:
    """Add what this plugin holds about the user to a privacy export.

    :param library: the library being exported.
    :param export: the export being built: ``add_json(name, data, description)``,
        ``add_bytes(arcname, data, description="")``,
        ``add_file(arcname, path, description="")`` and ``include_cloud`` (bool);
        see ``docs/plugin_hooks.md``.
    """


@hookspec
def delete_user_data(library: "Library", report: Any) -> None:
    """Delete everything this plugin holds about the user (never the user's model files).

    Runs before the core deletes the index; raise to stop the delete (the index is kept).

    :param library: the library being deleted.
    :param report: call ``report.removed(what, count=1, detail="")`` for what was removed;
        see ``docs/plugin_hooks.md``.
    """


@hookspec
def register_crash_report_sinks(register: Callable[..., None]) -> None:
    """Register sinks that send scrubbed crash reports: ``register(sink)``.

    Sinks get reports only while the ``privacy.crash_reports`` switch is on.

    :param register: callback taking a sink with a ``name`` and
        ``send(report: dict) -> None`` (raise to say it was not delivered).
    """
