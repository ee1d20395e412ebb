"""What the CLI's ``main()`` does around a command: count it and apply retention, or report its crash.

Both work from the command line the user typed, parsed by click itself (without
running anything), and both open the library only if it already exists: a
``--help`` or a failed ``privacy delete`` never creates one. Counting and crash
reporting never raise; retention that cannot run is a warning line on stderr.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Sequence

import attrs

log = logging.getLogger(__name__)


@attrs.frozen
class Invocation:
    """The ``--library`` option given (or None) and the command path, e.g. ``("privacy", "export")``."""

    library_dir: Path | None
    command: tuple[str, ...]


def _rest(ctx: Any) -> list[str]:
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def invocation(group: Any, args: Sequence[str]) -> Invocation:
    """Parse ``args`` like click would, without running anything."""
    import click

    try:
        ctx = group.make_context("printmanager", list(args), resilient_parsing=True)
    except Exception:
        return Invocation(None, ())
    library_dir = ctx.params.get("library_dir")
    path: list[str] = []
    cmd, parent, rest = group, ctx, _rest(ctx)
    while isinstance(cmd, click.Group) and rest:
        try:
            name, sub, rest = cmd.resolve_command(parent, rest)
        except Exception:
            break
        if sub is None or name is None:
            break
        path.append(name)
        if not isinstance(sub, click.Group):
            break
        try:
            parent = sub.make_context(name, list(rest), parent=parent, resilient_parsing=True)
        except Exception:
            break
        cmd, rest = sub, _rest(parent)
    return Invocation(Path(library_dir) if library_dir else None, tuple(path))


def _existing_db(inv: Invocation) -> tuple[Path, Path] | None:
    from ..paths import resolve_library_dir
    from ..store import DB_NAME

    directory = resolve_library_dir(inv.library_dir)
    db_path = directory / DB_NAME
    return (directory, db_path) if db_path.is_file() else None


def after_command(group: Any, args: Sequence[str]) -> None:
    """After a finished command: count it, then apply the retention rules that are due.

    Counting is the feature ``cli.<command path>`` (if analytics is on) and never
    shows: a failure to count is only logged. Retention runs while
    ``retention.auto`` is on (:func:`~.retention.apply_if_due`); if it cannot run
    (a busy or read-only library), one warning line on stderr says so and how to
    run it, and the command still succeeds.
    """
    try:
        inv = invocation(group, args)
        found = _existing_db(inv)
        if found is None:
            return
        db = _open_current(found[1])
    except Exception as exc:  # the command is done; its library cannot be opened again now
        log.debug("after command: library not opened: %s", exc)
        return
    try:
        _count(group, inv, db)
        _retention(db)
    finally:
        db.close()


def _open_current(db_path: Path) -> Any:
    """The database, opened over plain ``sqlite3`` while the schema stamp says nothing is
    pending (no sqlite-utils for ``ls``), else opened (and migrated) as a command opens it."""
    from ..plugin_schema import schema_key
    from ..store.stamp import open_current

    db = open_current(db_path, schema_key())
    if db is None:
        from ..store import open_database

        db = open_database(db_path)
    return db


def _count(group: Any, inv: Invocation, db: Any) -> None:
    from .analytics import Analytics, cli_feature, register_cli_commands, registered_features

    try:
        feature = cli_feature(inv.command)
        if feature is None:
            return
        if feature not in registered_features():
            register_cli_commands(group)
            if feature not in registered_features():
                return
        analytics = Analytics(db)
        if analytics.record(feature):
            analytics.send()
    except Exception as exc:  # counting must never change what the user sees
        log.debug("analytics: command not counted: %s", exc)


def _retention(db: Any) -> None:
    from ..errors import PrintManagerError
    from .retention import apply_if_due

    try:
        apply_if_due(db)
    except (PrintManagerError, OSError, sqlite3.Error) as exc:
        import click

        click.echo(
            f"warning: retention rules not applied ({exc}); run `printmanager privacy retention apply`", err=True
        )


def after_crash(group: Any, args: Sequence[str], exc: BaseException) -> str:
    """Save a scrubbed crash report of ``exc`` in the library; the one line to print."""
    line = f"Error: unexpected internal error ({type(exc).__name__})"
    try:
        inv = invocation(group, args)
        found = _existing_db(inv)
        if found is None:
            return line + "; no library to keep a crash report in"
        from ..store import open_database
        from .crash import CrashReports

        db = open_database(found[1])
        try:
            report = CrashReports(db, found[0]).capture(exc, context="cli", command=" ".join(inv.command) or None)
        finally:
            db.close()
        return (
            f"{line}; a crash report without paths or file names was saved in the library as "
            f"#{report.id} (see `printmanager privacy crash-reports`)"
        )
    except Exception as inner:
        log.debug("crash report not saved: %s", inner)
        return line + "; the crash report could not be saved"
