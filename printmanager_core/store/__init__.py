"""The store: the only layer that knows SQL and the schema.

``connection`` opens a library database (per-thread connections, busy timeouts,
private file modes) and applies ``migrations``; the gateways beside them are the
typed way the rest of printmanager reads and writes the catalogue.
"""

from __future__ import annotations

import functools

from .analytics import AnalyticsGateway
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
from .consent import ConsentGateway
from .crash import CrashGateway
from .erase import secure_delete
from .retention import RetentionGateway
from .settings import SettingsGateway
from .shares import SharesGateway



class Store:
    """The typed gateways over one library database (``Library.store``).

    Each gateway is a small class in its own module of this package, built on
    first use; code outside the store reads and writes the catalogue through
    them, never with SQL of its own.
    """

    def __init__(self, db: LibraryDatabase):
        self.db = db

    # -- settings, consent and privacy records (store/settings.py … store/shares.py) --

    @functools.cached_property
    def settings(self) -> SettingsGateway:
        """The ``settings`` table."""
        return SettingsGateway(self.db)

    @functools.cached_property
    def consent(self) -> ConsentGateway:
        """The append-only consent ledger."""
        return ConsentGateway(self.db)

    @functools.cached_property
    def analytics(self) -> AnalyticsGateway:
        """The analytics aggregates."""
        return AnalyticsGateway(self.db)

    @functools.cached_property
    def crash_reports(self) -> CrashGateway:
        """The crash reports kept in the library."""
        return CrashGateway(self.db)

    @functools.cached_property
    def shares(self) -> SharesGateway:
        """Share recipients, lists, links (tokens hashed) and the access log."""
        return SharesGateway(self.db)

    @functools.cached_property
    def retention(self) -> RetentionGateway:
        """The deletes behind the retention rules."""
        return RetentionGateway(self.db)


__all__ = [
    "Store",
    "AnalyticsGateway",
    "ConsentGateway",
    "CrashGateway",
    "RetentionGateway",
    "SettingsGateway",
    "SharesGateway",
    "secure_delete",
    "DB_NAME",
    "SIDE_SUFFIXES",
    "LibraryDatabase",
    "busy_timeout_default",
    "make_private",
    "open_database",
    "prepare_library_dir",
    "schema_version",
]
