"""Printers of a library: added with consent, API keys in the vault, jobs into the print log.

Nothing here opens a connection until a command names a printer the user added
(``printmanager printer add`` asks for, and records, consent per printer): a
library with no printer makes no printer traffic at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printmanager_core.errors import NotFound, UsageError
from printmanager_core.registry import Registry, collect

from .connection import Job, JobStatus, PrinterConnection, PrinterError
from .printers_store import Printer, PrintersStore

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

#: the consent ledger's switch for one printer is ``printer:<name>``
SWITCH_PREFIX = "printer:"


def secret_name(printer: str) -> str:
    """The vault name of a printer's API key."""
    return f"printers.{printer}.api_key"


def connection_kinds() -> Registry[Any]:
    """Every kind of printer connection the plugins registered (``register_printer_connections``)."""
    return collect("register_printer_connections", lambda kind, factory=None: kind)


def consent_text(name: str, kind: str, url: str) -> str:
    """What the user agrees to when adding a printer."""
    return (f"printmanager will contact the {kind} server at {url} for the printer {name!r}: to upload "
            "the files you send to it, start them, and read its job status and job history. "
            "Nothing is sent to it otherwise; `printmanager printer rm` withdraws this.")


def _record(library: "Library", name: str, value: bool, detail: dict[str, Any], source: str) -> str:
    from printmanager_core.settings import POLICY_VERSION
    from printmanager_core.store.consent import LedgerEntry
    from printmanager_core.clock import now_iso

    at = now_iso()
    with library.store.transaction():
        library.store.consent.append(LedgerEntry(at, SWITCH_PREFIX + name, json.dumps(value), POLICY_VERSION,
                                                 json.dumps(detail), source))
    return at


def add_printer(library: "Library", name: str, kind: str, url: str, api_key: str | None, *,
                source: str = "api") -> Printer:
    """Add a printer the user consented to contact: recorded in the consent ledger, the key in the vault."""
    if not name or any(c.isspace() for c in name) or "." in name:
        raise UsageError(f"a printer name is one word without dots, not {name!r}")
    kinds = connection_kinds()
    if kind not in kinds:
        raise UsageError(f"unknown printer kind {kind!r} (kinds: {', '.join(kinds.names()) or 'none'})")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"the printer's URL must start with http:// or https://, not {url!r}")
    text = consent_text(name, kind, url)
    if api_key:
        from printmanager_vault import set_secret

        set_secret(library, secret_name(name), api_key)
    at = _record(library, name, True, {"kind": kind, "url": url}, source)
    printer = Printer(name=name, kind=kind, url=url, added_at=at, consented_at=at, consent_text=text)
    PrintersStore(library.store.db).add(printer)
    return printer


def remove_printer(library: "Library", name: str, *, source: str = "api") -> Printer:
    """Withdraw consent for a printer and forget it (its API key leaves the vault)."""
    store = PrintersStore(library.store.db)
    printer = store.get(name)
    if printer is None:
        raise NotFound(f"no printer {name!r} (see `printmanager printer ls`)")
    from printmanager_vault import delete_secret

    delete_secret(library, secret_name(name))
    _record(library, name, False, {"kind": printer.kind, "url": printer.url}, source)
    store.remove(name)
    return printer


def printers(library: "Library") -> list[Printer]:
    """The printers added to ``library``, by name."""
    return PrintersStore(library.store.db).all()


def connect(library: "Library", name: str) -> PrinterConnection:
    """A connection to the printer ``name`` (one the user added); nothing is sent yet."""
    printer = PrintersStore(library.store.db).get(name)
    if printer is None:
        raise NotFound(f"no printer {name!r}: add it first with `printmanager printer add {name} --kind ... --url ...`")
    factory = connection_kinds().get(printer.kind) if printer.kind in connection_kinds() else None
    if factory is None:
        raise UsageError(f"printer {name!r} is of kind {printer.kind!r}, which no installed plugin provides")
    from printmanager_vault import get_secret

    return factory(printer.url, get_secret(library, secret_name(name)))  # type: ignore[no-any-return]


def _close(conn: Any) -> None:
    close = getattr(conn, "close", None)
    if callable(close):
        close()


def upload(library: "Library", name: str, file: int | str, *, start: bool = False) -> dict[str, Any]:
    """Upload a catalogued G-code file to printer ``name`` (and start it)."""
    rec = library.file(file)
    if rec.format not in ("gcode", "bgcode", "gcode.3mf"):
        raise UsageError(f"{rec.name} is not sliced; slice it first (printmanager slice {rec.id} ...)")
    if rec.archive_path:
        raise UsageError(f"{rec.name} is inside an archive; extract it to upload it")
    conn = connect(library, name)
    try:
        remote = conn.upload(Path(rec.path), rec.name)
        if start:
            conn.start(remote)
    finally:
        _close(conn)
    return {"printer": name, "file_id": rec.id, "remote": remote, "started": start}


def start(library: "Library", name: str, remote: str) -> None:
    """Start printing the file ``remote`` already on printer ``name``."""
    conn = connect(library, name)
    try:
        conn.start(remote)
    finally:
        _close(conn)


def status(library: "Library", name: str) -> JobStatus:
    """What printer ``name`` is doing now."""
    conn = connect(library, name)
    try:
        return conn.status()
    finally:
        _close(conn)


def _file_for(library: "Library", job: Job) -> Any:
    """The catalogued G-code file a job printed: the same name (the newest scan wins), else None."""
    matches = [f for f in library.files(f'name:"{job.file}"') if f.name == job.file
               and f.format in ("gcode", "bgcode", "gcode.3mf")]
    return matches[0] if len(matches) == 1 else None


def sync_history(library: "Library", name: str) -> dict[str, Any]:
    """Pull printer ``name``'s finished jobs into the print log; what was logged and skipped.

    A job is logged once (its job id is kept as ``external_id``); a job whose file
    is not catalogued (by name, exactly one G-code file) is skipped and listed.
    """
    conn = connect(library, name)
    try:
        jobs = list(conn.history())
    finally:
        _close(conn)
    source = f"{PrintersStore(library.store.db).get(name).kind}:{name}"  # type: ignore[union-attr]
    known = library.store.prints.external_ids(source)
    logged, unknown = [], []
    for job in jobs:
        if job.id in known:
            continue
        file = _file_for(library, job)
        if file is None:
            unknown.append(job.as_json())
            continue
        entry = library.log_print(file.id, printer=name, result=job.result, printed_at=job.ended_at,
                                  duration_s=job.duration_s, source=source, external_id=job.id, job_name=job.file)
        if entry is not None:
            logged.append(entry.as_json())
    return {"printer": name, "jobs": len(jobs), "logged": logged, "not_catalogued": unknown}


__all__ = ["PrinterError", "add_printer", "connect", "connection_kinds", "printers", "remove_printer",
           "start", "status", "sync_history", "upload"]
