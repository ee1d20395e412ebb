"""The ``printmanager`` command line: a thin skin over :mod:`printmanager_core`.

Commands live one module per command group in this package and in plugins;
all are added through the ``register_commands`` hook.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import PrintManagerError


class LibraryContext:
    """Holds the ``--library`` choice and opens the library on first use."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._library: Any = None

    @property
    def library(self) -> Any:
        if self._library is None:
            from ..library import Library

            self._library = Library(self.directory, on_lock_wait=_tell_waiting)
        return self._library

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None


def _tell_waiting(holder: Any) -> None:
    click.echo(f"{holder.describe()}; waiting…", err=True)


pass_library = click.make_pass_decorator(LibraryContext)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    click.echo(json.dumps(value, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="printmanager")
@click.option(
    "--library",
    "library_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Library directory (default: $PRINTMANAGER_LIBRARY, else the user data dir).",
)
@click.pass_context
def cli(ctx: click.Context, library_dir: Path | None) -> None:
    """Organise 3D-printing files: scan, search, tag, thumbnail, sync."""
    state = LibraryContext(library_dir)
    ctx.obj = state
    ctx.call_on_close(state.close)


_commands_loaded = False


def load_commands() -> click.Group:
    """Add every plugin's commands to :data:`cli` (once) and return it."""
    global _commands_loaded
    if not _commands_loaded:
        from ..plugins import get_plugin_manager

        get_plugin_manager().hook.register_commands(cli=cli)
        _commands_loaded = True
    return cli


def _environment_error(exc: BaseException) -> PrintManagerError | None:
    """The one-line error for an ``OSError`` or an environment ``sqlite3`` error that got this far."""
    from ..errors import database_error, os_error

    if isinstance(exc, OSError):
        return os_error(exc)
    if type(exc).__module__ == "sqlite3":
        return database_error(exc)
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``printmanager`` console script."""
    from ..privacy import clihooks

    group = cli
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        group = load_commands()
        rv = group.main(args=argv, prog_name="printmanager", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PrintManagerError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        known = _environment_error(exc)
        if known is not None:  # the disk or the database, not a bug: one line
            click.echo(f"Error: {known}", err=True)
            sys.exit(known.exit_code)
        # a bug, not the user's input: keep a scrubbed crash report
        click.echo(clihooks.after_crash(group, args, exc), err=True)
        sys.exit(1)
    if isinstance(rv, int) and rv:
        sys.exit(rv)
    if not {"--help", "-h", "--version"} & set(args):
        try:
            clihooks.after_command(group, args)
        except KeyboardInterrupt:  # the command itself is done
            sys.exit(130)
