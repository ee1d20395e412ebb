"""What every command gets: the ``--library`` choice, opened on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


class LibraryContext:
    """Holds the ``--library`` choice and opens the library on first use."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._library: Any = None

    @property
    def library(self) -> Any:
        """The :class:`printmanager_core.Library`, opened (once) when a command first asks."""
        if self._library is None:
            from ..library import Library

            self._library = Library(self.directory, on_lock_wait=_tell_waiting)
        return self._library

    @property
    def reader(self) -> Any:
        """The library for a command that only reads the core's catalogue (``ls``): opened
        ``light`` (plain ``sqlite3``, no sqlite-utils, while nothing is pending), or the
        :attr:`library` when a command opened that already."""
        if self._library is None:
            from ..library import Library

            self._library = Library(self.directory, on_lock_wait=_tell_waiting, light=True)
        return self._library

    def close(self) -> None:
        """Close the library if a command opened it."""
        if self._library is not None:
            self._library.close()
            self._library = None


def _tell_waiting(holder: Any) -> None:
    click.echo(f"{holder.describe()}; waiting…", err=True)


#: ``@pass_library`` gives a command the :class:`LibraryContext` as its first argument
pass_library = click.make_pass_decorator(LibraryContext)
