"""The store: the only layer that knows SQL and the schema.

``plain`` opens a library database over plain ``sqlite3`` (per-thread
connections, busy timeouts, private file modes), ``connection`` adds
sqlite-utils' API and applies ``migrations``, and ``stamp`` says whether any is
pending without importing them (a read-only command opens a plain database
then); the gateways beside them are the
typed way the rest of printmanager reads and writes the catalogue:

==================  =====================================================
``store.files``     :class:`~.files.FilesGateway` — ``files``
``store.models``    :class:`~.models.ModelsGateway` — ``models``
``store.roots``     :class:`~.roots.RootsGateway` — ``roots``
``store.tags``      :class:`~.tags.TagsGateway` — tags and their links
``store.collections`` :class:`~.collections.CollectionsGateway`
``store.problems``  :class:`~.problems.ProblemsGateway` — problems (m026)
``store.search``    :class:`~.search.SearchGateway` — a query's first page and count, quickly
==================  =====================================================

The query language's SQL is in :mod:`.query_sql`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Iterator

from ..lazy_exports import lazy_exports

from .collections import CollectionsGateway
from .plain import (
    DB_NAME,
    SIDE_SUFFIXES,
    PlainDatabase,
    busy_timeout_default,
    make_private,
    open_plain,
    prepare_library_dir,
)
from .files import FilesGateway
from .models import ModelsGateway
from .problems import ProblemsGateway
from .roots import RootsGateway
from .search import SearchGateway
from .tags import TagsGateway

if TYPE_CHECKING:  # pragma: no cover
    from .connection import LibraryDatabase, open_database, schema_version
    from .organise import OrganiseGateway
    from .analytics import AnalyticsGateway
    from .consent import ConsentGateway
    from .crash import CrashGateway
    from .erase import secure_delete
    from .prints import PrintsGateway
    from .retention import RetentionGateway
    from .settings import SettingsGateway
    from .shares import SharesGateway
    from .slices import SliceLinksGateway

#: names re-exported from modules that an ordinary command (``ls``) does not need
#: (sqlite-utils' database and the migrations; gateways): imported on first use (PEP 562)
_LAZY = {
    "LibraryDatabase": "connection",
    "open_database": "connection",
    "schema_version": "connection",
    "AnalyticsGateway": "analytics",
    "ConsentGateway": "consent",
    "CrashGateway": "crash",
    "secure_delete": "erase",
    "PrintsGateway": "prints",
    "RetentionGateway": "retention",
    "SettingsGateway": "settings",
    "SharesGateway": "shares",
    "SliceLinksGateway": "slices",
}


__getattr__ = lazy_exports(__name__, _LAZY)



class Store:
    """The typed gateways over one library database (``Library.store``).

    Each gateway is a small class in its own module of this package; code
    outside the store reads and writes the catalogue through them, never with
    SQL of its own. Gateway methods that say "in the caller's transaction" run
    inside :meth:`transaction` (or a scan's own).
    """

    def __init__(self, db: PlainDatabase):
        self.db = db
        self.files = FilesGateway(db)
        self.models = ModelsGateway(db)
        self.roots = RootsGateway(db)
        self.tags = TagsGateway(db)
        self.collections = CollectionsGateway(db)
        self.problems = ProblemsGateway(db)
        self.search = SearchGateway(db, self.files)

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

    # -- settings, consent and privacy records (store/settings.py … store/shares.py) --

    @functools.cached_property
    def settings(self) -> SettingsGateway:
        """The ``settings`` table."""
        from .settings import SettingsGateway

        return SettingsGateway(self.db)

    @functools.cached_property
    def consent(self) -> ConsentGateway:
        """The append-only consent ledger."""
        from .consent import ConsentGateway

        return ConsentGateway(self.db)

    @functools.cached_property
    def analytics(self) -> AnalyticsGateway:
        """The analytics aggregates."""
        from .analytics import AnalyticsGateway

        return AnalyticsGateway(self.db)

    @functools.cached_property
    def crash_reports(self) -> CrashGateway:
        """The crash reports kept in the library."""
        from .crash import CrashGateway

        return CrashGateway(self.db)

    @functools.cached_property
    def shares(self) -> SharesGateway:
        """Share recipients, lists, links (tokens hashed) and the access log."""
        from .shares import SharesGateway

        return SharesGateway(self.db)

    @functools.cached_property
    def retention(self) -> RetentionGateway:
        """The deletes behind the retention rules."""
        from .retention import RetentionGateway

        return RetentionGateway(self.db)

    # -- the print log and sliced ↔ source links (docs/printing.md) ------------------

    @functools.cached_property
    def prints(self) -> PrintsGateway:
        """The print log (``prints``)."""
        from .prints import PrintsGateway

        return PrintsGateway(self.db)

    @functools.cached_property
    def slice_links(self) -> SliceLinksGateway:
        """Which file each G-code file was sliced from (``slice_links``)."""
        from .slices import SliceLinksGateway

        return SliceLinksGateway(self.db)

    # -- organise on disk: the journal of moves (docs/organise.md) --------------------

    @functools.cached_property
    def organise(self) -> "OrganiseGateway":
        """The organise journal (m022) and the path changes of a move."""
        from .organise import OrganiseGateway

        return OrganiseGateway(self.db)


__all__ = [
    "Store",
    "AnalyticsGateway",
    "ConsentGateway",
    "CrashGateway",
    "RetentionGateway",
    "SettingsGateway",
    "SharesGateway",
    "PrintsGateway",
    "SliceLinksGateway",
    "secure_delete",
    "DB_NAME",
    "SIDE_SUFFIXES",
    "LibraryDatabase",
    "PlainDatabase",
    "busy_timeout_default",
    "make_private",
    "open_database",
    "open_plain",
    "prepare_library_dir",
    "schema_version",
]
