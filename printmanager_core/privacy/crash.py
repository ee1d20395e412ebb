"""Crash and error reports: scrubbed, kept locally, sent only with consent.

A report holds the OS, Python and app versions and the traceback, with user
paths and file names replaced by placeholders (:class:`Scrubber`). Reports are
captured on unhandled errors in the CLI and on request from the API
(:meth:`CrashReports.capture`), stored in the library database, and given to
the sinks of the ``register_crash_report_sinks`` hook only while the
``privacy.crash_reports`` switch is on (it is off by default).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from ..settings import Settings, now_iso
from ..store.crash import CrashGateway, NewCrashReport

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

log = logging.getLogger(__name__)

SWITCH = "privacy.crash_reports"
SCHEMA_VERSION = 1

#: Endings of the user's files (models, sliced files, pictures, documents, archives).
USER_EXTENSIONS = (
    "stl", "3mf", "obj", "ply", "glb", "gltf", "step", "stp", "iges", "igs", "amf", "fbx", "dae",
    "blend", "scad", "f3d", "gcode", "bgcode", "zip", "7z", "rar", "tar", "gz", "png", "jpg", "jpeg",
    "webp", "gif", "bmp", "pdf", "txt", "lys", "chitu", "ctb", "sl1",
)  # fmt: skip
_EXT = "|".join(sorted(USER_EXTENSIONS, key=len, reverse=True))
_QUOTED = re.compile(r"""(['"])((?:(?!\1)[^\n])*)\1""")
_HAS_EXT = re.compile(rf"\.({_EXT})(?![\w])", re.I)
_ABS_POSIX = re.compile(r"""(?<![\w<>.~\-])/[^\s'"]+""")
_ABS_WINDOWS = re.compile(r"""(?<![\w<>])(?:[A-Za-z]:[\\/]|\\\\)[^\s'"]*""")
_TILDE = re.compile(r"""(?<![\w<>])~[\\/][^\s'"]*""")
_RELATIVE = re.compile(r"""(?<![\w<>/\\.~\-])[\w.\-]+(?:[/\\][\w.\-]+)+""")
_FILENAME = re.compile(rf"""(?<![\w<>/\\.])[^\s'"/\\<>:()\[\]{{}},;=]+\.({_EXT})(?![\w])""", re.I)
_CODE_FILE = r"""[/\\]((?:[\w.\-]+[/\\])*[\w.\-]+\.py[cdw]?)(?![\w/\\.])"""


def _code_prefixes() -> list[str]:
    """Folders holding code (Python, installed packages, printmanager itself)."""
    seen: set[str] = set()
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    paths += [p for p in sysconfig.get_paths().values() if p]
    paths += [p for p in sys.path if p]
    import printmanager_core

    paths.append(str(Path(printmanager_core.__file__).resolve().parent.parent))
    out = []
    for p in paths:
        try:
            resolved = str(Path(p).resolve())
        except OSError:
            continue
        for candidate in {p.rstrip("/\\"), resolved}:
            if candidate and candidate not in seen and len(candidate) > 1:
                seen.add(candidate)
                out.append(candidate)
    return sorted(out, key=len, reverse=True)


@attrs.define
class Scrubber:
    """Replaces user paths and file names in text with placeholders.

    Order: code files keep their path below the code folder (``<code>/click/core.py``);
    known user folders (library, roots, home) swallow the rest of the path
    (``<library>``, ``<root>``, ``<home>``); any other absolute or relative path
    becomes ``<path>``; a file name with a user-file ending becomes ``<file.stl>``;
    names known from the catalogue (file and model names) become ``<name>``.

    :param user_paths: ``(path, label)`` pairs, e.g. ``("/home/me/Prints", "root")``.
    :param names: file and model names to remove wherever they appear.
    """

    user_paths: list[tuple[str, str]] = attrs.field(factory=list)
    names: list[str] = attrs.field(factory=list)
    code_paths: list[str] = attrs.field(factory=_code_prefixes)

    @classmethod
    def for_database(cls, db: Database | None, library_dir: str | os.PathLike[str] | None) -> "Scrubber":
        """A scrubber knowing the library folder, its roots, file and model names, and home."""
        user: list[tuple[str, str]] = []
        names: set[str] = set()
        if library_dir is not None:
            user.append((str(library_dir), "library"))
        if db is not None:
            try:
                roots, known = CrashGateway(db).user_paths_and_names()
                user += [(r, "root") for r in roots]
                names.update(known)
            except Exception as exc:  # a broken store still gets a report
                log.debug("scrubber: catalogue not readable: %s", exc)
        home = os.path.expanduser("~")
        if home and home not in ("/", "~"):
            user.append((home, "home"))
        try:
            user.append((os.getcwd(), "cwd"))
        except OSError:
            pass
        expanded: list[tuple[str, str]] = []
        for path, label in user:
            if not path or Path(path).parent == Path(path):  # never a whole drive or "/"
                continue
            expanded.append((path, label))
            try:
                real = str(Path(path).resolve())
            except OSError:
                continue
            if real != path:
                expanded.append((real, label))
        return cls(expanded, sorted((n for n in names if len(n) >= 3), key=len, reverse=True))

    def scrub(self, text: str) -> str:
        """``text`` with user paths and file names replaced."""
        if not text:
            return text
        for prefix in self.code_paths:
            if prefix in text:
                text = re.sub(re.escape(prefix) + _CODE_FILE, lambda m: "<code>/" + m.group(1).replace("\\", "/"), text)
        for prefix, label in sorted(self.user_paths, key=lambda pl: len(pl[0]), reverse=True):
            if prefix and prefix in text:
                text = re.sub(
                    re.escape(prefix) + r"""(?=$|[/\\'"\s:,;)\]])(?:[/\\][^'"\n]*)?""", f"<{label}>", text
                )
        text = _QUOTED.sub(self._quoted, text)
        text = _ABS_WINDOWS.sub("<path>", text)
        text = _TILDE.sub("<home>", text)
        text = _ABS_POSIX.sub("<path>", text)
        text = _RELATIVE.sub(lambda m: m.group(0) if m.group(0).startswith("<") else "<path>", text)
        text = _FILENAME.sub(lambda m: f"<file.{m.group(1).lower()}>", text)
        for name in self.names:
            if name in text:
                text = re.sub(rf"(?<![\w<]){re.escape(name)}(?![\w>])", "<name>", text)
        return text

    def _quoted(self, m: re.Match[str]) -> str:
        q, body = m.group(1), m.group(2)
        if body.startswith("<") and body.endswith(">"):
            return m.group(0)
        if body.startswith("<code>/"):
            return m.group(0)
        ext = _HAS_EXT.search(body)
        if "/" in body or "\\" in body:
            return f"{q}<path>{q}"
        if ext:
            return f"{q}<file.{ext.group(1).lower()}>{q}"
        return m.group(0)


def _app_version() -> str:
    from .. import __version__

    return __version__


def build_report(
    exc: BaseException, scrubber: Scrubber, *, context: str = "api", command: str | None = None
) -> dict[str, Any]:
    """The scrubbed crash report of ``exc`` (not stored)."""
    frames = [
        {
            "file": scrubber.scrub(f.filename),
            "line": f.lineno,
            "function": f.name,
            "code": scrubber.scrub(f.line or ""),
        }
        for f in traceback.extract_tb(exc.__traceback__)
    ]
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": now_iso(),
        "context": context,
        "command": command,
        "app_version": _app_version(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "os": platform.system(),
        "os_release": platform.release(),
        "machine": platform.machine(),
        "exception": {
            "type": f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins."),
            "message": scrubber.scrub(str(exc)),
        },
        "frames": frames,
        "traceback": scrubber.scrub(text),
    }


@attrs.frozen
class CrashReport:
    """A stored crash report: its id, the scrubbed report, and when it was sent (or None)."""

    id: int
    created_at: str
    report: dict[str, Any]
    sent_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """``{"id", "created_at", "sent_at", "report"}``."""
        return {"id": self.id, "created_at": self.created_at, "sent_at": self.sent_at, "report": self.report}


@runtime_checkable
class CrashReportSink(Protocol):
    """What ``register_crash_report_sinks`` takes: ``send(report: dict)`` raises when not delivered."""

    name: str

    def send(self, report: dict[str, Any]) -> None: ...


def sinks() -> Any:
    """The registry of crash-report sinks, from the ``register_crash_report_sinks`` hook."""
    from ..registry import collect

    return collect("register_crash_report_sinks", lambda sink: getattr(sink, "name", type(sink).__name__))


class CrashReports:
    """The crash reports of one library.

    :param db: the library database.
    :param library_dir: the library folder (scrubbed from reports).
    """

    def __init__(self, db: Database, library_dir: str | os.PathLike[str] | None = None,
                 settings: Settings | None = None):
        self.db = db
        self.library_dir = library_dir
        self.settings = settings or Settings(db)
        self._store = CrashGateway(db)

    @classmethod
    def for_library(cls, library: Any) -> "CrashReports":
        """The crash reports of a :class:`~printmanager_core.Library`."""
        return cls(library.store.db, library.directory, library.settings)

    @property
    def enabled(self) -> bool:
        """The ``privacy.crash_reports`` switch (sending; capturing locally is always on)."""
        return bool(self.settings.get(SWITCH))

    def capture(self, exc: BaseException, *, context: str = "api", command: str | None = None) -> CrashReport:
        """Store a scrubbed report of ``exc`` locally; send it if the switch is on and a sink exists."""
        scrubber = Scrubber.for_database(self.db, self.library_dir)
        report = build_report(exc, scrubber, context=context, command=command)
        rid = self._store.insert(NewCrashReport(
            created_at=report["created_at"],
            context=context,
            app_version=report["app_version"],
            python_version=report["python_version"],
            os=report["os"],
            exception_type=report["exception"]["type"],
            report=json.dumps(report),
        ))
        if self.enabled:
            self.send()
        return self.get(int(rid))

    def get(self, report_id: int) -> CrashReport:
        """One stored report."""
        from ..errors import NotFound

        row = self._store.get(report_id)
        if row is None:
            raise NotFound(f"no crash report #{report_id}")
        return CrashReport(row.id, row.created_at, json.loads(row.report), row.sent_at)

    def list(self) -> list[CrashReport]:
        """Every stored report, oldest first."""
        return [CrashReport(r.id, r.created_at, json.loads(r.report), r.sent_at) for r in self._store.all()]

    def send(self) -> int:
        """Give unsent reports to every crash-report sink, only while the switch is on.

        Returns how many reports were delivered to all sinks (and marked sent).
        """
        if not self.enabled:
            return 0
        registry = sinks()
        if not len(registry):
            return 0
        sent = 0
        for report in [r for r in self.list() if r.sent_at is None]:
            ok = True
            for entry in registry:
                try:
                    entry.value.send(dict(report.report))
                except Exception as exc:
                    log.warning("crash-report sink %s failed: %s", entry.name, exc)
                    ok = False
            if ok:
                self._store.mark_sent(report.id, now_iso())
                sent += 1
        return sent

    def clear(self) -> int:
        """Delete every stored report; returns how many."""
        return self._store.clear()


def capture(library: Any, exc: BaseException) -> CrashReport:
    """Capture a crash report of ``exc`` in ``library`` (the API's "report this error")."""
    return CrashReports.for_library(library).capture(exc, context="api")

