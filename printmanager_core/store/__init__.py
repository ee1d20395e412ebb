"""The store: the only layer that knows SQL and the schema.

``connection`` opens a library database (per-thread connections, busy timeouts,
private file modes) and applies ``migrations``; the gateways beside them are the
typed way the rest of printmanager reads and writes the catalogue:

==================  =====================================================
``store.files``     :class:`~.files.FilesGateway` — ``files``
``store.models``    :class:`~.models.ModelsGateway` — ``models``
``store.roots``     :class:`~.roots.RootsGateway` — ``roots``
``store.tags``      :class:`~.tags.TagsGateway` — tags and their links
``store.collections`` :class:`~.collections.CollectionsGateway`
==================  =====================================================

The query language's SQL is in :mod:`.query_sql`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from .collections import CollectionsGateway
from .connection import (
    DB_NAME,
    SIDE_SUFFIXES,
    LibraryDatabase,
    busy_timeout_default,
    make_private,
    open_database,
    prepare_library_dir,
    schema_version,
)
from .files import FilesGateway
from .models import ModelsGateway
from .roots import RootsGateway
from .tags import TagsGateway


class Store:
    """The typed gateways over one library database (``Library.store``).

    Each gateway is a small class in its own module of this package; code
    outside the store reads and writes the catalogue through them, never with
    SQL of its own. Gateway methods that say "in the caller's transaction" run
    inside :meth:`transaction` (or a scan's own).
    """

    def __init__(self, db: LibraryDatabase):
        self.db = db
        self.files = FilesGateway(db)
        self.models = ModelsGateway(db)
        self.roots = RootsGateway(db)
        self.tags = TagsGateway(db)
        self.collections = CollectionsGateway(db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``): committed at the end, rolled back on error.

        Re-entrant: inside a transaction already open, it joins it.
        """
        with self.db.conn:
            yield

    # -- a long writer's own transaction (the scan) --------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether this thread's connection has a transaction open."""
        return self.db.conn.in_transaction

    def begin(self) -> None:
        """Open a write transaction unless one is open (commit it with :meth:`commit`)."""
        if not self.db.conn.in_transaction:
            self.db.execute("begin")

    def commit(self) -> None:
        """Commit this thread's open transaction, if any."""
        if self.db.conn.in_transaction:
            self.db.conn.commit()

    def anyone_waiting(self) -> bool:
        """Whether another writer waits for the write lock (see ``LibraryDatabase.anyone_waiting``)."""
        return self.db.anyone_waiting()


__all__ = [
    "Store",
    "DB_NAME",
    "SIDE_SUFFIXES",
    "LibraryDatabase",
    "busy_timeout_default",
    "make_private",
    "open_database",
    "prepare_library_dir",
    "schema_version",
]
