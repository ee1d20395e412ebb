"""The ``printmanager`` command line: a thin skin over :mod:`printmanager_core`.

Each command (or command group) is defined at module level in its own module of
this package (``ls.py``, ``collection.py``, ...) or of a plugin, and added to
:data:`cli` with ``cli.add_command`` from a ``register_commands`` hook: the
core's own in :mod:`printmanager_core.cli.commands`.

What commands share: :class:`LibraryContext` and :data:`pass_library`
(``context.py``), and :func:`json_option`/:func:`echo_json` for every ``--json``
(``output.py``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ..errors import PrintManagerError
from .context import LibraryContext, pass_library
from .output import echo_json, json_option

__all__ = ["LibraryContext", "cli", "echo_json", "json_option", "load_command_for", "load_commands", "main",
           "pass_library"]


class PrintManagerGroup(click.Group):
    """The top-level group: says which plugins are off in ``--help`` and for an unknown command."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        lines = _plugin_notes()  # (a plugin that failed to load has its warning line on stderr)
        if lines:
            formatter.write_paragraph()
            formatter.write_text("Plugins off (see `printmanager plugins`):")
            with formatter.indentation():
                for line in lines:
                    formatter.write_text(line)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            if args and args[0] not in self.commands:
                note = _not_loaded_note()
                if note:
                    exc.message = f"{exc.message} {note}"
            raise


def _not_loaded_note() -> str:
    """``Plugins not loaded: a, b (...)``: what the error for an unknown command adds ("" if none)."""
    from ..plugins import plugin_problems, plugins_off

    try:
        names = [item.plugin for item in plugins_off()]
        names += [p.plugin for p in plugin_problems() if p.where == "load"]
    except Exception:  # an error message must always print
        return ""
    if not names:
        return ""
    return f"Plugins not loaded: {', '.join(sorted(set(names)))} (`printmanager plugins` says why)."


def _plugin_notes() -> list[str]:
    """One line per plugin that is off because its extra is not installed."""
    from ..plugins import plugins_off

    try:
        return [item.line() for item in plugins_off()]
    except Exception:  # help must always print
        return []


@click.group(cls=PrintManagerGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    """Add every plugin's commands to :data:`cli` (once) and return it.

    A plugin whose ``register_commands`` raises is named in one warning and
    recorded; the commands it added before raising are taken out again, and
    every other plugin's commands are there.
    """
    global _commands_loaded
    if not _commands_loaded:
        from ..plugins import call_impl_safely, hook_implementations

        for impl in hook_implementations("register_commands"):
            before = dict(cli.commands)
            ok, _ = call_impl_safely(impl, "register_commands", {"cli": cli})
            if not ok:
                cli.commands.clear()
                cli.commands.update(before)
        _commands_loaded = True
    return cli


def load_command_for(args: list[str]) -> click.Group:
    """:data:`cli` with what the command line ``args`` needs: only its command when it names a
    core command (a start-up that imports no other command and no plugin's CLI), else every
    command (:func:`load_commands`: help, ``plugins`` (which reports every plugin's
    ``register_commands``), a plugin's command, an unknown name).

    Plugins add top-level commands (``register_commands``); a core command's own
    subcommands are the core's, so loading one core command alone misses nothing.
    """
    from .commands import CORE_COMMANDS, core_command

    name = _command_name(args)
    asks_help = "--help" in args or "-h" in args  # help shows (and warns about) every plugin
    if _commands_loaded or name not in CORE_COMMANDS or name == "plugins" or asks_help:
        return load_commands()
    if name not in cli.commands:
        cli.add_command(core_command(name))
    return cli


def _command_name(args: list[str]) -> str | None:
    """The command a command line names, past the group's ``--library DIR``; None for an option
    such as ``--help`` or ``--version`` (or no command at all)."""
    rest = list(args)
    while rest:
        head = rest.pop(0)
        if head == "--library":
            if not rest:
                return None
            rest.pop(0)
        elif head.startswith("--library="):
            continue
        elif head.startswith("-"):
            return None
        else:
            return head
    return None


class _WarningLine(logging.Handler):
    """Shows the plugin manager's warnings as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"warning: {record.getMessage()}", err=True)
        except Exception:  # a closed stderr must not stop the command
            pass


_warning_handler = _WarningLine(logging.WARNING)


def _show_plugin_warnings() -> None:
    logger = logging.getLogger("printmanager_core.plugins")
    if _warning_handler not in logger.handlers:
        logger.addHandler(_warning_handler)


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
    _show_plugin_warnings()
    try:
        group = load_command_for(args)
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
