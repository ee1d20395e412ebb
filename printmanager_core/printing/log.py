"""The print log: each print of a model, and of the file printed when known.

Entries are user data like tags and notes: exported by ``privacy export``,
deleted by ``privacy delete``, and kept for ``retention.print_log_days``
(docs/privacy.md). A query sees them through ``is:printed`` and ``printed:``
(docs/query.md); only successful prints (``result`` ``ok``) count there.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, UsageError
from ..records import PRINT_RESULTS, FileRecord, ModelRecord, PrintRecord

if TYPE_CHECKING:  # pragma: no cover
    from ..library import Library


def _iso(when: str | _dt.datetime | None) -> str:
    """``when`` as a UTC ISO timestamp (now when None); a naive time is taken as UTC."""
    if when is None:
        moment = _dt.datetime.now(_dt.timezone.utc)
    elif isinstance(when, _dt.datetime):
        moment = when
    else:
        try:
            moment = _dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"cannot read the time {when!r} (try 2026-03-01 or 2026-03-01T14:30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


def resolve_target(library: "Library", target: int | str, *, model: bool = False) -> tuple[ModelRecord, FileRecord | None]:
    """The model (and file) ``target`` names: a file id/path, else a model id/path
    (``model=True``: a model only)."""
    if model:
        return library.model(target), None
    try:
        file = library.file(target)
    except NotFound:
        try:
            return library.model(target), None
        except NotFound:
            raise NotFound(f"no file or model {target} in the library") from None
    if file.model_id is None:
        raise UsageError(f"{file.name} belongs to no model; rescan its root")
    return library.model(file.model_id), file


def log_print(
    library: "Library",
    target: int | str,
    *,
    model: bool = False,
    printer: str | None = None,
    result: str = "ok",
    note: str = "",
    printed_at: str | _dt.datetime | None = None,
    duration_s: float | None = None,
    source: str = "manual",
    external_id: str | None = None,
    job_name: str | None = None,
) -> PrintRecord | None:
    """Add one print to the log; the new entry (None: that printer's job was logged already)."""
    if result not in PRINT_RESULTS:
        raise UsageError(f"result must be one of {', '.join(PRINT_RESULTS)}, not {result!r}")
    rec, file = resolve_target(library, target, model=model)
    entry: dict[str, Any] = {
        "model_id": rec.id, "file_id": file.id if file else None, "printed_at": _iso(printed_at),
        "printer": printer or None, "result": result, "note": note or "", "duration_s": duration_s,
        "source": source, "external_id": external_id, "job_name": job_name,
    }
    return library.store.prints.add(entry)


def history(library: "Library", target: int | str, *, model: bool = False) -> tuple[ModelRecord, list[PrintRecord]]:
    """The model ``target`` names (a file names its model) and its prints, newest first."""
    rec, _ = resolve_target(library, target, model=model)
    return rec, library.store.prints.of_model(rec.id)


def delete_print(library: "Library", print_id: int) -> PrintRecord:
    """Delete one entry (overwritten, not just marked free); the entry that was deleted."""
    rec = library.store.prints.by_id(print_id)
    if rec is None:
        raise NotFound(f"no print {print_id} in the print log")
    library.store.prints.delete([print_id])
    return rec
