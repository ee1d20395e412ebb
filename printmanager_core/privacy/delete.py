"""Delete everything the library holds about the user, in one call (PROMISE 6).

Order matters, and is:

1. every plugin's ``delete_user_data(library, report)`` hook, in pluggy's call
   order (the sync plugin, ``tryfirst``, deletes the remote objects while the
   vault still holds its credentials; the account plugin asks the identity
   provider to delete the account; the vault plugin and the core's privacy
   plugin, both ``trylast``, delete the vault and clear analytics, crash reports
   and share records). If a plugin fails, deleting stops there with the local
   index kept, so the user can run it again. What a plugin could not do and
   that running delete again would not fix (e.g. an account the provider does
   not let the user delete) it records with :meth:`DeleteReport.could_not`: the
   delete goes on, and ``privacy delete`` prints each such line;
2. the thumbnails cache (``<library>/thumbnails``);
3. the index itself: the database and its ``-wal``, ``-shm``, ``-journal`` and ``-turn`` files,
   and the write lock's file (it holds only a pid);
4. empty folders plugins left in the library folder.

The user's own files are never touched: nothing under a root is deleted, and
only the names above are removed from the library folder. What else is left
there (a file the user put in the folder) is listed in the report, not deleted.
The library folder itself stays, empty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import attrs

from ..errors import PrintManagerError
from ..store import DB_NAME

#: What the core removes from the library folder, after the plugins.
THUMBNAILS_DIR = "thumbnails"
DB_SUFFIXES = ("", "-wal", "-shm", "-journal", "-turn")


@attrs.frozen
class NotDone:
    """One thing a delete could not do, why, and what the user can do instead."""

    plugin: str
    what: str
    why: str


@attrs.frozen
class Removed:
    """One thing a delete removed."""

    plugin: str
    what: str
    count: int = 1
    detail: str = ""


class DeleteReport:
    """What ``delete_user_data`` hooks receive: call :meth:`removed` for what you deleted and
    :meth:`could_not` for what you could not delete (the user is told)."""

    def __init__(self) -> None:
        self.items: list[Removed] = []
        self.not_done: list[NotDone] = []
        self.left: list[str] = []
        self._plugin = "printmanager"

    def removed(self, what: str, count: int = 1, detail: str = "") -> None:
        """Record that ``count`` of ``what`` (e.g. ``"remote objects"``) were deleted."""
        self.items.append(Removed(self._plugin, str(what), int(count), str(detail)))

    def could_not(self, what: str, why: str) -> None:
        """Record that ``what`` (e.g. ``"delete the account at the provider"``) was not done, and
        ``why`` (the reason and what the user can do instead); printed as ``could not <what>: <why>``."""
        self.not_done.append(NotDone(self._plugin, str(what), str(why)))

    def total(self, what: str | None = None) -> int:
        """How many things were removed (of one kind, or in all)."""
        return sum(i.count for i in self.items if what is None or i.what == what)

    def as_json(self) -> dict[str, Any]:
        """``{"removed": [{"plugin", "what", "count", "detail"}], "could_not": [{"plugin", "what", "why"}],
        "left": [names]}``."""
        return {"removed": [attrs.asdict(i) for i in self.items],
                "could_not": [attrs.asdict(n) for n in self.not_done], "left": list(self.left)}


def _is_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _remove_empty_folders(directory: Path, roots: list[Path]) -> int:
    """Remove empty folders below ``directory`` (never a root or anything in one)."""
    if not directory.is_dir():
        return 0
    count = 0
    for folder, _, _ in sorted(os.walk(directory), key=lambda w: len(w[0]), reverse=True):
        path = Path(folder)
        if path == directory or any(_is_inside(path, r) or _is_inside(r, path) for r in roots):
            continue
        try:
            path.rmdir()  # only succeeds when empty
            count += 1
        except OSError:
            pass
    return count


def delete_library(library: Any) -> DeleteReport:
    """Delete the user's data held by ``library`` and its plugins; the library is closed after.

    Runs under the library's write lock: a scan running elsewhere is waited for,
    and a scan that was waiting stops with a one-line error after the delete.

    :raises PrintManagerError: when a plugin cannot delete its data; the local
        index is then kept so the delete can be run again.
    """
    with library.write_lock("privacy delete"):
        return _delete_library(library)


def _delete_library(library: Any) -> DeleteReport:
    from .export import _ordered_impls

    report = DeleteReport()
    directory: Path = library.directory
    roots = [Path(r) for r in library.roots()]
    for impl in _ordered_impls("delete_user_data"):
        report._plugin = impl.plugin_name
        try:
            impl.function(library=library, report=report)
        except Exception as exc:
            raise PrintManagerError(
                f"delete: {impl.plugin_name} could not delete its data ({type(exc).__name__}: {exc}); "
                "the local index is kept so you can run delete again"
            ) from exc
    report._plugin = "printmanager"

    thumbs = directory / THUMBNAILS_DIR
    if thumbs.is_dir() and not any(_is_inside(r, thumbs) for r in roots):  # ours, unless a root is in it
        count = sum(len(files) for _, _, files in os.walk(thumbs))
        shutil.rmtree(thumbs)
        report.removed("thumbnails", count, THUMBNAILS_DIR)

    library.close()
    removed_db = []
    for suffix in DB_SUFFIXES:
        p = directory / (DB_NAME + suffix)
        if p.exists():
            p.unlink()
            removed_db.append(p.name)
    if removed_db:
        report.removed("index database", 1, ", ".join(removed_db))
    # the lock file holds only a pid; a process waiting on it sees it deleted and stops
    library._write_lock.discard()
    emptied = _remove_empty_folders(directory, roots)
    if emptied:
        report.removed("empty folders", emptied, "left behind in the library folder")
    if directory.is_dir():
        report.left = sorted(p.name for p in directory.iterdir())
    return report
