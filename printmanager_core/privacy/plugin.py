"""The core's privacy plugin: counts scans, exports and deletes the core's own data.

Registered from :data:`printmanager_core.plugins.DEFAULT_PLUGINS` like any plugin.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def scan_finished(library: Any, report: Any) -> None:
    """Count the scan (a feature use; nothing about what was scanned)."""
    from .analytics import record

    record(library, "library.scan")


def _all_models(library: Any) -> list[Any]:
    """Every model, as the library API gives it (models without files too)."""
    from ..store.export import CatalogueExportGateway

    models = library.models(include_missing=True)
    seen = {m.id for m in models}
    extra = [i for i in CatalogueExportGateway(library.store.db).model_ids() if i not in seen]
    return models + [library.model(i) for i in extra]


def catalogue(library: Any) -> dict[str, Any]:
    """The catalogue as the export writes it: roots, models, files, tags, collections."""
    from ..store.export import CatalogueExportGateway

    gateway = CatalogueExportGateway(library.store.db)
    return {
        "roots": gateway.roots(),
        "models": [m.as_json() for m in _all_models(library)],
        "files": [f.as_json() for f in library.files(include_missing=True)],
        "tags": gateway.tags(),
        "collections": library.collections(),
    }


@hookimpl
def export_user_data(library: Any, export: Any) -> None:
    """Add settings, the consent ledger, the catalogue, analytics, crash reports and shares."""
    from .analytics import Analytics
    from ..settings import defaults  # sqlite-utils: not on every plugin-manager start
    from .crash import CrashReports
    from .sharing import Shares

    settings = library.settings
    export.add_json(
        "settings.json",
        {
            "values": settings.all(),
            "defaults": defaults(),
            "changed": settings.changed(),
        },
        "Every setting (values), the built-in defaults, and the ones you changed with when.",
    )
    export.add_json(
        "consent_ledger.json",
        settings.consent_ledger(),
        "Every change of a privacy switch: when, which, the new value, the policy version, by whom.",
    )
    cat = catalogue(library)
    descriptions = {
        "roots": "Folders the library indexes (your files stay there; they are not in this export).",
        "models": "Models as `printmanager models --json` shows them: names, tags, notes, collections.",
        "files": "Files as `printmanager ls --json --missing` shows them: metadata, tags, notes.",
        "tags": "Every tag with the ids of the files and models that carry it.",
        "collections": "Collections with their description and model ids.",
    }
    for key, description in descriptions.items():
        export.add_json(f"catalogue/{key}.json", cat[key], description)
    analytics = Analytics.for_library(library)
    export.add_json(
        "analytics.json",
        {"enabled": analytics.enabled, "aggregates": [a.as_json() for a in analytics.aggregates()]},
        "Usage counts per feature per day (count; sent = how many of them were sent to a sink).",
    )
    export.add_json(
        "crash_reports.json",
        [r.as_json() for r in CrashReports.for_library(library).list()],
        "Crash reports kept in the library (paths and file names removed), and when each was sent.",
    )
    export.add_json(
        "shares.json",
        Shares.for_library(library).as_json(),
        "Share records: recipients, distribution lists, share links and their access log.",
    )


@hookimpl(trylast=True)
def delete_user_data(library: Any, report: Any) -> None:
    """Clear analytics, crash reports and share records; count what goes with the index."""
    from ..store.erase import count_rows
    from .analytics import Analytics
    from .crash import CrashReports
    from .sharing import Shares

    report.removed("analytics aggregates", Analytics.for_library(library).clear())
    report.removed("crash reports", CrashReports.for_library(library).clear())
    report.removed("share records", Shares.for_library(library).clear())
    for what, table in (
        ("file records", "files"),
        ("model records", "models"),
        ("tags", "tags"),
        ("collections", "collections"),
        ("roots", "roots"),
        ("settings", "settings"),
        ("consent ledger entries", "consent_ledger"),
    ):
        report.removed(what, count_rows(library.store.db, table), "with the index database")
