"""``printmanager scan``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..paths import printable
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@json_option("Print the scan report as JSON.")
@click.option("--workers", type=click.IntRange(1, 64), help="Reader processes (default: CPU count).")
@click.option("--no-thumbnails", is_flag=True, help="Don't make thumbnails during this scan.")
@click.option("--add-root", is_flag=True, help="A FILE outside every root: make its folder a root (only the file is read).")
@click.option("--no-wait", is_flag=True,
              help="If another scan of this library is running, stop at once (exit 75) instead of waiting.")
@click.option("--wait-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Wait at most this long for another scan of this library to finish (exit 75 after).")
@pass_library
def scan(state: LibraryContext, paths: tuple[Path, ...], as_json: bool, workers: int | None,
         no_thumbnails: bool, add_root: bool, no_wait: bool, wait_timeout: float | None) -> None:
    """Add folders to the library and catalogue their files (all roots if none given).

    A FILE scans that one file into the root holding it (refused outside every
    root unless --add-root).

    One scan of a library runs at a time: a second one waits for the first
    (saying so on stderr), or with --no-wait / --wait-timeout stops in one line.

    A folder inside a root rescans that part of the root; a folder holding
    roots becomes their root (docs/guide.md, "Roots").
    """
    lib = state.library
    lib.lock_timeout = 0 if no_wait else wait_timeout
    if not paths and not lib.roots():
        raise click.UsageError("give a folder to scan; the library has no roots yet")
    show_bar = sys.stderr.isatty()  # the bar is on stderr: --json on stdout stays clean
    if show_bar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task("Reading", total=None)

            def thumbnails_phase(done: int, total: int) -> None:
                bar.update(task, description="Thumbnails", completed=done, total=total)

            report = lib.scan(list(paths), workers=workers, thumbnails=not no_thumbnails, add_root=add_root,
                              progress=lambda done, total: bar.update(task, completed=done, total=total),
                              after_progress=thumbnails_phase)
    else:
        report = lib.scan(list(paths), workers=workers, thumbnails=not no_thumbnails, add_root=add_root)
    if as_json:
        echo_json(report.as_json())
    else:
        click.echo(
            f"{report.added} added, {report.updated} updated, {report.moved} moved, "
            f"{report.missing} missing, {report.unchanged} unchanged, {report.errors} errors "
            f"in {report.seconds:.2f}s"
        )
        for err in report.error_files:
            click.echo(f"  error: {printable(err.path)}: {printable(err.error)}", err=True)
        for skip in report.skipped:
            click.echo(f"  skipped: {printable(skip.path)}: {printable(skip.error)}", err=True)
    if report.interrupted:
        click.echo("Interrupted: the files read so far are catalogued; run scan again to finish.", err=True)
        sys.exit(130)
