"""The built-in plugin of the print log and sliced ↔ source links.

Registered from :data:`printmanager_core.plugins.DEFAULT_PLUGINS`: it links the
G-code files a scan added or changed to their sources, and adds the print log
and the links to ``privacy export`` (``privacy delete`` deletes them with the
index database).
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def scan_finished(library: Any, report: Any) -> None:
    """Link the G-code files the scan added or changed (and unlinked ones beside changed files)."""
    changed = set(report.changed_ids)
    if not changed:
        return
    from .links import link_sliced

    gateway = library.store.slice_links
    unlinked = gateway.unlinked_gcodes()
    if not unlinked:
        return
    models = gateway.model_ids_of(sorted(changed))
    todo = [g for g in unlinked if g.id in changed or g.model_id in models]
    if todo:
        link_sliced(library, todo)


@hookimpl
def export_user_data(library: Any, export: Any) -> None:
    """Add the print log and the sliced ↔ source links."""
    export.add_json(
        "print_log.json",
        [p.as_json() for p in library.store.prints.all()],
        "Every print in the print log: model and file ids, when, printer, result, note, where it came from.",
    )
    export.add_json(
        "slice_links.json",
        library.store.slice_links.all(),
        "Which file each G-code file was sliced from (file ids) and how the link was found.",
    )


@hookimpl
def delete_user_data(library: Any, report: Any) -> None:
    """Count the print log and the links, which go with the index database."""
    from ..store.erase import count_rows  # the store (sqlite-utils): not on every plugin-manager start

    report.removed("print log entries", count_rows(library.store.db, "prints"), "with the index database")
    report.removed("sliced ↔ source links", count_rows(library.store.db, "slice_links"), "with the index database")
