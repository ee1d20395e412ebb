"""Privacy controls and data rights: analytics, crash reports, export, delete, retention, shares.

See ``docs/privacy.md`` for how each promise of the privacy policy maps to code
and tests. The pieces, each usable on its own:

- :class:`~.analytics.Analytics` — anonymous aggregate usage counts, switchable;
- :class:`~.crash.CrashReports` — scrubbed crash reports, sent only with consent;
- :class:`~.sharing.Shares` — share records (recipients, lists, links, access log);
- :func:`~.export.export_library` — everything about the user as one zip;
- :func:`~.delete.delete_library` — delete everything, never the user's files;
- :mod:`~.retention` — rules deleting records on schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lazy_exports import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from .analytics import Aggregate, Analytics, Event, register_feature, registered_features
    from .crash import CrashReport, CrashReports, Scrubber
    from .delete import DeleteReport, delete_library
    from .export import Export, ExportResult, export_library
    from .retention import RetentionReport
    from .sharing import Shares

#: each public name → the submodule it comes from, imported on first use (PEP 562), so
#: a command that needs none of them (``ls``) does not import them all
_LAZY = {
    "Aggregate": "analytics", "Analytics": "analytics", "Event": "analytics", "register_feature": "analytics",
    "registered_features": "analytics",
    "CrashReport": "crash", "CrashReports": "crash", "Scrubber": "crash",
    "DeleteReport": "delete", "delete_library": "delete",
    "Export": "export", "ExportResult": "export", "export_library": "export",
    "RetentionReport": "retention",
    "Shares": "sharing",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "Aggregate",
    "Analytics",
    "CrashReport",
    "CrashReports",
    "DeleteReport",
    "Event",
    "Export",
    "ExportResult",
    "RetentionReport",
    "Scrubber",
    "Shares",
    "delete_library",
    "export_library",
    "register_feature",
    "registered_features",
]
