"""``printmanager watch``: keep the catalogue up to date as files change (docs/organise.md, "Watching folders")."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

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


def _say(as_json: bool, batch: int, changes: int, total: dict[str, int], seconds: float,
         root: str | None = None) -> None:
    if as_json:
        extra = {} if root is None else {"root": display_path(root)}
        echo_json_line({"batch": batch, "changes": changes, **extra, **total, "seconds": round(seconds, 3)})
    else:
        if root is not None:
            what = f"catch-up scan of {printable(root)}"
        else:
            what = "catch-up scan" if batch == 0 else f"{changes} change{'s' if changes != 1 else ''}"
        click.echo(f"{what}: {total['added']} added, {total['updated']} updated, {total['moved']} moved, "
                   f"{total['missing']} missing, {total['errors']} errors")
    sys.stdout.flush()


def _say_root(as_json: bool, root: str, change: str, watching: int) -> None:
    if as_json:
        echo_json_line({"root": display_path(root), "change": change, "watching": watching})
    else:
        click.echo(f"root {change}: {printable(root)} (watching {watching} folder{'s' if watching != 1 else ''})")
    sys.stdout.flush()


#: how often ``watch`` without ROOTs looks for roots added or removed meanwhile (seconds)
ROOTS_EVERY_S = 0.5
#: the watcher's wait for changes before it yields an empty batch (milliseconds)
RUST_TIMEOUT_MS = 200


def _folders(paths: list[str]) -> list[str]:
    """The paths that are folders now (a root whose folder is gone, unmounted say, is not watched)."""
    return [p for p in paths if os.path.isdir(p)]


def _idle() -> Iterator[set[Any]]:
    """What is watched when there is nothing to watch: an empty batch now and then."""
    while True:
        time.sleep(RUST_TIMEOUT_MS / 1000)
        yield set()


@click.command("watch")
@click.argument("roots", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option("Print one JSON line per batch of changes (and per root added or removed).")
@click.option("--debounce", type=click.IntRange(10, 60_000), default=1000, show_default=True, metavar="MS",
              help="Gather changes for this long (milliseconds) before rescanning.")
@click.option("--no-thumbnails", is_flag=True, help="Don't make thumbnails after each batch.")
@pass_library
def watch(state: LibraryContext, roots: tuple[Path, ...], as_json: bool, debounce: int, no_thumbnails: bool) -> None:
    """Watch folders and rescan what changes in them (all roots if none given), until Ctrl-C.

    The watcher starts first, then one catch-up scan of the folders, then each
    batch of changes is rescanned: folders that lost files first, then the files
    added or changed, so a moved file keeps its id, tags and notes. The library's
    own folder and hidden folders are not watched. Without ROOTs, a root added
    meanwhile (``scan NEW_ROOT``, ``roots add``) is watched within seconds, after
    a catch-up scan of it, and a root removed (``roots rm``) is no longer watched.
    Needs the ``watch`` extra.
    """
    try:
        import watchfiles
    except ImportError:
        raise click.ClickException("watch needs watchfiles: install 'printmanager[watch]'") from None
    lib = state.library
    given = [str(p.expanduser().resolve()) for p in roots]
    follow = not given  # the library's roots: follow their changes
    watched = _folders(given or lib.roots())
    if not watched:
        raise click.UsageError("give a folder to watch; the library has no roots yet")
    library_dir = str(Path(lib.directory).resolve())
    default_filter = watchfiles.DefaultFilter()
    thumbnails = not no_thumbnails

    def keep(change: Any, path: str) -> bool:
        return default_filter(change, path) and not _hidden_or_library(path, watched, library_dir)

    def watching(paths: list[str]) -> Iterator[set[Any]]:
        if not paths:
            return _idle()
        # the watcher is live before the first yield (an empty set after rust_timeout, or the first changes)
        return watchfiles.watch(*paths, watch_filter=keep, debounce=debounce, rust_timeout=RUST_TIMEOUT_MS,
                                yield_on_timeout=True)

    def rescan(changes: set[Any], batch: int) -> bool:
        """One batch; False when a scan was interrupted."""
        total = dict.fromkeys(COUNTS, 0)
        folders, paths = plan_batch(changes, lib.roots())
        seconds = 0.0
        for part in (folders, paths):
            if part:
                report = lib.scan(part, workers=1, thumbnails=thumbnails)
                _add(total, report)
                seconds += report.seconds
                for err in report.error_files:
                    if not as_json:
                        click.echo(f"  error: {printable(err.path)}: {printable(err.error)}", err=True)
                if report.interrupted:
                    return False
        _say(as_json, batch, len(changes), total, seconds)
        return True

    batch = 0
    changes_iter = watching(watched)
    looked = time.monotonic()
    try:
        while True:
            changes = next(changes_iter)
            if batch == 0:
                # the catch-up scan runs once the watcher is live: it misses nothing that changes meanwhile
                total = dict.fromkeys(COUNTS, 0)
                report = lib.scan(given, thumbnails=thumbnails)  # given: adds them as roots
                _add(total, report)
                if report.interrupted:
                    break
                _say(as_json, 0, len(changes), total, report.seconds)
                batch = 1
                continue
            if changes:
                if not rescan(changes, batch):
                    break
                batch += 1
            if not follow or time.monotonic() - looked < ROOTS_EVERY_S:
                continue
            looked = time.monotonic()
            in_library = lib.roots()
            now = _folders(in_library)
            if set(now) == set(watched):
                continue
            # a new watcher over the new set is live first; the old one then hands over what it saw
            # meanwhile, and the catch-up scan of each new root covers what came before
            added = sorted(set(now) - set(watched))
            removed = sorted(set(watched) - set(now))
            before = list(watched)
            watched[:] = now
            new_iter = watching(now)
            try:
                pending = set(next(new_iter))
            except OSError as e:  # a folder gone again meanwhile, say: keep the old watcher, look again soon
                watched[:] = before
                click.echo(f"cannot watch {', '.join(printable(r) for r in added) or 'the roots'} yet: "
                           f"{printable(e.strerror or str(e))}", err=True)
                continue
            pending |= next(changes_iter)
            close = getattr(changes_iter, "close", None)
            if close is not None:
                close()
            changes_iter = new_iter
            for root in removed:
                # taken out of the library, or still a root whose folder is gone (unmounted, say)
                _say_root(as_json, root, "missing" if root in in_library else "removed", len(now))
            interrupted = False
            for root in added:
                _say_root(as_json, root, "added", len(now))
                if root not in lib.roots():
                    continue  # taken out again meanwhile: a scan of it would add it back
                total = dict.fromkeys(COUNTS, 0)
                report = lib.scan([root], thumbnails=thumbnails)
                _add(total, report)
                if report.interrupted:
                    interrupted = True
                    break
                _say(as_json, batch, 0, total, report.seconds, root=root)
                batch += 1
            if interrupted:
                break
            if pending:
                if not rescan(pending, batch):
                    break
                batch += 1
    except KeyboardInterrupt:
        pass
    if not as_json:
        click.echo(f"stopped watching {', '.join(display_path(w) for w in watched) or 'nothing'}", err=True)
