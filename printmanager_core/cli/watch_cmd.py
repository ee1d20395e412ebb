"""``printmanager watch``: keep the catalogue up to date as files change (docs/organise.md, "Watching folders")."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ..paths import display_path, is_within, printable
from .context import LibraryContext, pass_library
from .output import echo_json_line, json_option

#: the counts each batch reports (the names of :class:`ScanReport`'s fields)
COUNTS = ("added", "updated", "moved", "missing", "unchanged", "errors")


def _hidden_or_library(path: str, watched: list[str], library_dir: str) -> bool:
    """True for a path in the library's own folder or in a hidden folder (or a hidden file) below a watched one."""
    if is_within(path, library_dir):
        return True
    for folder in watched:
        if is_within(path, folder):
            rel = os.path.relpath(path, folder)
            return any(part.startswith(".") for part in Path(rel).parts if part not in (".", ".."))
    return False


def _outermost(folders: set[str]) -> list[str]:
    """``folders`` without those inside another of them, in path order."""
    return sorted(f for f in folders if not any(o != f and is_within(f, o) for o in folders))


def plan_batch(changes: set[tuple[Any, str]], roots: list[str]) -> tuple[list[str], list[str]]:
    """What to rescan for one batch of changes: (folders of deleted paths, added or changed paths).

    A deleted path's nearest existing folder inside its root is rescanned first, so
    that the file is marked missing before an added file with its content is read
    (the scanner then gives that file the missing one's id: a move keeps identity).
    Paths outside every root are left out.
    """
    from watchfiles import Change

    gone: set[str] = set()
    touched: set[str] = set()
    for change, path in changes:
        root = next((r for r in roots if is_within(path, r)), None)
        if root is None:
            continue
        if change == Change.deleted or not os.path.lexists(path):
            folder = os.path.dirname(path)
            while not os.path.isdir(folder) and is_within(folder, root) and folder != root:
                folder = os.path.dirname(folder)
            if os.path.isdir(folder) and is_within(folder, root):
                gone.add(folder)
        else:
            touched.add(path)
    folders = _outermost(gone)
    rest = {p for p in touched if not any(is_within(p, f) for f in folders)}
    dirs = {p for p in rest if os.path.isdir(p)}
    files = {p for p in rest if p not in dirs and not any(is_within(p, d) for d in dirs)}
    return folders, _outermost(dirs) + sorted(files)


def _add(total: dict[str, int], report: Any) -> None:
    for name in COUNTS:
        total[name] += getattr(report, name)


def _say(as_json: bool, batch: int, changes: int, total: dict[str, int], seconds: float) -> None:
    if as_json:
        echo_json_line({"batch": batch, "changes": changes, **total, "seconds": round(seconds, 3)})
    else:
        what = "catch-up scan" if batch == 0 else f"{changes} change{'s' if changes != 1 else ''}"
        click.echo(f"{what}: {total['added']} added, {total['updated']} updated, {total['moved']} moved, "
                   f"{total['missing']} missing, {total['errors']} errors")
    sys.stdout.flush()


@click.command("watch")
@click.argument("roots", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option("Print one JSON line per batch of changes.")
@click.option("--debounce", type=click.IntRange(10, 60_000), default=1000, show_default=True, metavar="MS",
              help="Gather changes for this long (milliseconds) before rescanning.")
@click.option("--no-thumbnails", is_flag=True, help="Don't make thumbnails after each batch.")
@pass_library
def watch(state: LibraryContext, roots: tuple[Path, ...], as_json: bool, debounce: int, no_thumbnails: bool) -> None:
    """Watch folders and rescan what changes in them (all roots if none given), until Ctrl-C.

    The watcher starts first, then one catch-up scan of the folders, then each
    batch of changes is rescanned: folders that lost files first, then the files
    added or changed, so a moved file keeps its id, tags and notes. The library's
    own folder and hidden folders are not watched. Needs the ``watch`` extra.
    """
    try:
        import watchfiles
    except ImportError:
        raise click.ClickException("watch needs watchfiles: install 'printmanager[watch]'") from None
    lib = state.library
    given = [str(p.expanduser().resolve()) for p in roots]
    watched = given or lib.roots()
    if not watched:
        raise click.UsageError("give a folder to watch; the library has no roots yet")
    library_dir = str(Path(lib.directory).resolve())
    default_filter = watchfiles.DefaultFilter()

    def keep(change: Any, path: str) -> bool:
        return default_filter(change, path) and not _hidden_or_library(path, watched, library_dir)

    batch = 0
    try:
        # the watcher is live before the first yield (an empty set after rust_timeout, or the first changes):
        # the catch-up scan then misses nothing that changes while it runs
        for changes in watchfiles.watch(*watched, watch_filter=keep, debounce=debounce, rust_timeout=500,
                                        yield_on_timeout=True):
            total = dict.fromkeys(COUNTS, 0)
            if batch == 0:
                report = lib.scan(given, thumbnails=not no_thumbnails)  # given: adds them as roots
                _add(total, report)
                if report.interrupted:
                    break
                _say(as_json, 0, len(changes), total, report.seconds)
                batch = 1
                continue
            if not changes:
                continue
            folders, paths = plan_batch(changes, lib.roots())
            seconds = 0.0
            interrupted = False
            for part in (folders, paths):
                if part and not interrupted:
                    report = lib.scan(part, workers=1, thumbnails=not no_thumbnails)
                    _add(total, report)
                    seconds += report.seconds
                    interrupted = report.interrupted
                    for err in report.error_files:
                        if not as_json:
                            click.echo(f"  error: {printable(err.path)}: {printable(err.error)}", err=True)
            if interrupted:
                break
            _say(as_json, batch, len(changes), total, seconds)
            batch += 1
    except KeyboardInterrupt:
        pass
    if not as_json:
        click.echo(f"stopped watching {', '.join(display_path(w) for w in watched)}", err=True)
