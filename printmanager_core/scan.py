"""Scanning: walk the roots, read what changed, write the catalogue.

* Incremental: a file with the same size and mtime as catalogued is not read.
* Moves keep user data: a new path whose content hash equals that of a file
  that disappeared takes over that file's row (tags, notes, id).
* Deletions are soft: a file no longer on disk is marked ``missing``.
* Bad input never stops the scan: a file that cannot be read is recorded with
  its ``error``. Files are opened without following a symlink and without
  blocking, and must then be regular files, so a FIFO or device swapped in
  between the walk and the read gets an error instead of hanging the scan.
* File names are bytes: paths are the exact ``os`` strings; the store keeps
  their display text and, when needed, their exact bytes (see paths.py).
* What is catalogued: every regular file inside a model folder (format from the
  extension when no reader knows it); directly in a root, only files of a known
  kind. Hidden files, junk (ignore.py) and the user's ignore patterns are left
  out; symlinks are never followed (one that leaves its root is reported).
* Reading (hash + reader) runs in worker processes when there is enough to
  read, watched by the main process (watchdog.py: a worker stuck on one file
  past its budget and grace is killed and replaced; that file gets the error);
  the main process alone writes the database, in short transactions, so
  Ctrl-C leaves the catalogue consistent (files read so far are kept; nothing
  is marked missing by an interrupted scan).
"""

from __future__ import annotations

import errno
import hashlib
import io
import math
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, NamedTuple


from . import budget
from .grouping import PART_FOLDERS, model_of
from .ignore import JUNK_NAMES, IgnoreRules, is_junk_member, load_rules
from .paths import display_path, is_within, stored_path
from .readers import ReaderTable, default_table, format_from_name, reader_for
from .readers.base import Limits, NotThisFormat, ReadError, Source, one_line
from .readers.ziputil import read_member, safe_members
from .records import SCANNED_COLUMNS, FileRecord, ScanError, ScanReport, result_columns, scanned_defaults
from .settings import now_iso
from .sidecars import SIDECAR_NAME
from .watchdog import WatchedPool
from .store import Store
from .store.files import Known

#: what a scan tells its caller about one file: ("file_added" | "file_changed" | "file_removed", the file)
EventSink = Callable[[str, FileRecord], None]

__all__ = ["PART_FOLDERS", "model_of"]  # re-exported: they lived here

ARCHIVE_SEP = "!/"

#: extensions of files catalogued without a reader (hash and size only)
PLAIN_FORMATS: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".webp": "webp",
    ".gif": "gif",
    ".pdf": "pdf",
    ".txt": "txt",
    ".md": "md",
}
ARCHIVE_EXTENSIONS = (".zip",)

#: files read whole into memory (hashed and parsed from one read) up to this size
IN_MEMORY_MAX = 64 * 1024 * 1024
#: a worker task carries up to this many files / bytes (64 saved some CPU on tiny files, but a
#: slow file then held up more files behind it: the hostile-file run went past its bound)
TASK_FILES = 16
TASK_BYTES = 4 * 1024 * 1024
#: below this much to read, reading stays in-process
PARALLEL_MIN_FILES = 8
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
#: rows to update whose stored values are read in one query (see Scanner._update)
STORED_AHEAD = 64
#: commit the write transaction at least this often (seconds)
COMMIT_EVERY_S = 0.5
#: before waiting for reads, commit a transaction open this long (seconds), so a
#: short write elsewhere (a tag, a setting) gets SQLite's one write lock in between;
#: a writer that says it waits (store.LibraryDatabase.anyone_waiting) gets it at once
RELEASE_AFTER_S = 0.5

#: the columns a scan writes for every file it reads (declared with FileRecord's fields)
COLUMNS = SCANNED_COLUMNS
_NOTHING_READ = scanned_defaults()
#: every column a scan may write over an existing row (compared with what is stored first)
_UPDATED_COLUMNS = tuple(dict.fromkeys((
    *COLUMNS, "name", "model_id", "root_id", "scanned_at", "missing", "mtime_ns", "archive_path", "archive_size",
    "size_bytes", "path", "path_bytes",
)))


class Entry(NamedTuple):
    """A file found on disk by the walk."""

    path: str
    name: str
    size: int
    mtime_ns: int
    kind: str  # "file" | "archive"


def is_catalogued(name: str, readers: ReaderTable | None = None) -> str | None:
    """How a file name directly in a root is catalogued: "archive", "file", or None
    (left out: only files of a known kind stand alone as models). Inside a model
    folder every regular file is catalogued (see :func:`walk`)."""
    lower = name.lower()
    if lower.endswith(ARCHIVE_EXTENSIONS):
        return "archive"
    known = reader_for(lower) if readers is None else readers.for_name(lower)
    if known is not None or os.path.splitext(lower)[1] in PLAIN_FORMATS:
        return "file"
    return None


#: why a symlink is not catalogued (the scan report's ``skipped``)
SYMLINK_LEAVES_ROOT = "symlink leaves its root (not followed)"


def walk(
    root: Path,
    skip: Iterable[Path] = (),
    *,
    folder: Path | None = None,
    ignore: IgnoreRules | None = None,
    skipped: list[ScanError] | None = None,
    readers: ReaderTable | None = None,
    empty: list[str] | None = None,
    only: str | None = None,
    sidecars: set[str] | None = None,
) -> Iterator[Entry]:
    """Every catalogued file under ``root`` (or only under its sub-folder ``folder``).

    ``only`` (a name directly in ``folder``) yields that one file, if it is
    catalogued, and walks nothing else.

    Hidden files and folders, junk (:data:`~printmanager_core.ignore.JUNK_NAMES`),
    ``skip`` folders and what ``ignore`` matches are left out. Symlinks are never
    followed: what they point to inside the root is walked at its own path (no
    loops, nothing counted twice); one pointing outside the root is appended to
    ``skipped``, as is a folder that cannot be opened. Only regular files are
    yielded (no FIFOs, sockets, devices). ``readers`` says which names directly
    in the root are of a known kind (default: the registered readers). Folders
    below the root with nothing in them (hidden files and junk aside) are
    appended to ``empty``. The folders holding an entry named ``datapackage.json`` (a
    sidecar, :mod:`.sidecars`) are added to ``sidecars``.
    """
    root_s = str(root)
    skip_set = {str(p) for p in skip}
    real_root: str | None = None
    start = str(folder) if folder is not None else root_s
    rel = ""
    if start != root_s:
        # a sub-folder is walked only if a walk of the whole root would enter it
        if any(is_within(start, s) for s in skip_set):
            return
        for part in os.path.relpath(start, root_s).split(os.sep):
            rel += part + "/"
            if part[0] == "." or part.lower() in JUNK_NAMES or (ignore is not None and ignore.ignores(rel)):
                return
    stack = [(start, rel)]
    # whether a name directly in the root is catalogued depends only on what follows its first dot
    kinds: dict[str, str | None] = {}
    while stack:
        current, rel = stack.pop()
        at_root = current == root_s
        try:
            it = os.scandir(current)
        except OSError as exc:
            if skipped is not None:
                skipped.append(ScanError(current, f"cannot open folder: {exc.strerror or exc}"))
            continue
        nothing = empty is not None and not at_root
        with it:
            for de in it:
                name = de.name
                if name[0] == ".":
                    continue
                if only is not None and name != only:
                    continue
                if sidecars is not None and name == SIDECAR_NAME:
                    sidecars.add(current)
                lower = name.lower()
                if lower in JUNK_NAMES:
                    continue
                nothing = False
                try:
                    if de.is_symlink():
                        if skipped is not None:
                            if real_root is None:
                                real_root = os.path.realpath(root_s)
                            if not is_within(os.path.realpath(de.path), real_root):
                                skipped.append(ScanError(de.path, SYMLINK_LEAVES_ROOT))
                        continue
                    if de.is_dir(follow_symlinks=False):
                        if only is not None or de.path in skip_set:
                            continue
                        if ignore is not None:
                            child = rel + name + "/"
                            if not ignore.ignores(child):
                                stack.append((de.path, child))
                        else:
                            stack.append((de.path, ""))
                        continue
                    if at_root:
                        dot = lower.find(".")
                        key = lower[dot:] if dot > 0 else ""
                        kind = kinds.get(key, "?")
                        if kind == "?":
                            kind = kinds[key] = is_catalogued(name, readers) if key else None
                        if kind is None:
                            continue
                    else:
                        kind = "archive" if lower.endswith(ARCHIVE_EXTENSIONS) else "file"
                    if not de.is_file(follow_symlinks=False):
                        continue
                    if ignore is not None and ignore.ignores(rel + name):
                        continue
                    st = de.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield Entry(de.path, name, st.st_size, st.st_mtime_ns, kind)
        if nothing:
            empty.append(current)  # type: ignore[union-attr]


# --------------------------------------------------------------------------
# reading (runs in worker processes)
# --------------------------------------------------------------------------


def _hash_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


#: open for reading: never block (a FIFO swapped in), never follow a symlink
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)  # fmt: skip
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"),
)  # fmt: skip


class NotRegularFile(OSError):
    """What was found at a path is not a regular file (any more)."""


def open_regular(path: str, same_as: os.stat_result | None = None) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file, without blocking or
    following a symlink; with ``same_as``, only if it is still that file.

    :raises NotRegularFile: a FIFO, device, socket, symlink or folder is there,
        or (``same_as``) another file was swapped in.
    :raises OSError: it cannot be opened.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise NotRegularFile("a symlink, not a regular file (swapped in after the walk; not followed)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = next((text for test, text in _KINDS if test(st.st_mode)), "something")
            raise NotRegularFile(f"{what}, not a regular file")
        if same_as is not None and (st.st_dev, st.st_ino) != (same_as.st_dev, same_as.st_ino):
            raise NotRegularFile("the file was replaced while it was read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: a ReadResult's columns (declared with FileRecord's fields)
_result_columns = result_columns


def _read_source(source: Source, name: str, readers: ReaderTable | None = None) -> dict[str, Any]:
    """Run the reader for ``name`` on ``source`` under the per-file budget; an error
    becomes the ``error`` column.

    The read runs within ``limits.max_seconds_per_file`` and (in worker processes)
    ``limits.max_memory_bytes`` (see :mod:`.budget`). A reader that declines the
    file (:class:`NotThisFormat`) leaves it catalogued as a plain file: format
    from the extension, no error.
    """
    lower = name.lower()
    table = readers or default_table()
    reader = table.for_name(lower)
    if reader is None:
        return {"format": format_from_name(lower)}
    limits = source.limits
    try:
        with budget.limit(limits.max_seconds_per_file, limits.max_memory_bytes):
            reader = table.for_source(source) or reader  # by content: a .gcode that is binary G-code
            return _result_columns(table.read(source, reader))
    except NotThisFormat:
        return {"format": format_from_name(lower)}
    except ReadError as exc:
        return {"format": reader.name, "error": one_line(str(exc)) or "unreadable"}
    except budget.OverBudget as exc:
        return {"format": reader.name, "error": exc.message("read")}
    except MemoryError:
        return {"format": reader.name, "error": "file too large to read in memory"}
    except RecursionError:
        return {"format": reader.name, "error": "file is nested too deeply to read"}
    except Exception as exc:  # a reader bug must not stop the scan
        return {"format": reader.name,
                "error": one_line(f"{reader.name} reader failed: {type(exc).__name__}: {exc}")}


def _open_error(exc: OSError) -> str:
    if isinstance(exc, NotRegularFile):
        return f"cannot read file: {exc}"
    return f"cannot read file: {exc.strerror or exc}"


def read_file(path: str, name: str, size: int, limits: Limits, readers: ReaderTable | None = None) -> dict[str, Any]:
    """Hash and read one file on disk; never raises for bad content (nor blocks on a FIFO)."""
    try:
        with open_regular(path) as fh:
            st = os.fstat(fh.fileno())
            if st.st_size <= IN_MEMORY_MAX:
                data = fh.read()
                digest = _hash_bytes(data)
                source = Source(name=name, size=len(data), opener=lambda: io.BytesIO(data), path=Path(path),
                                limits=limits)
            else:
                digest = "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
                source = Source(name=name, size=st.st_size, opener=lambda: open_regular(path, st),
                                path=Path(path), limits=limits)
    except OSError as exc:
        return {"error": _open_error(exc)}
    cols = _read_source(source, name, readers)
    if cols.get("format") is None:
        cols["format"] = format_from_name(name)
    cols["hash"] = digest
    return cols


def read_archive(
    path: str, name: str, size: int, limits: Limits, readers: ReaderTable | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Hash and read every catalogued member of a zip archive.

    :returns: (member name, columns) pairs; a single ("", columns-with-error)
        pair when the archive itself cannot be read.
    """
    try:
        fh = open_regular(path)
    except OSError as exc:
        return [("", {"format": "zip", "error": _open_error(exc)})]
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        fh.close()
        return [("", {"format": "zip", "error": f"not a readable zip archive: {exc}"})]
    out: list[tuple[str, dict[str, Any]]] = []
    with fh, zf:
        try:
            members = safe_members(zf, limits)
        except ReadError as exc:
            return [("", {"format": "zip", "error": str(exc)})]
        for info in members:
            if info.is_dir():
                continue
            member_name = info.filename.rsplit("/", 1)[-1]
            if is_junk_member(info.filename):
                continue
            try:
                data = read_member(zf, info, limits)
            except ReadError as exc:
                out.append((info.filename, {"error": str(exc), "size_bytes": info.file_size}))
                continue
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, ValueError) as exc:
                out.append((info.filename, {"error": f"cannot extract from archive: {exc}",
                                            "size_bytes": info.file_size}))
                continue
            source = Source(name=member_name, size=len(data), opener=lambda d=data: io.BytesIO(d), limits=limits)
            cols = _read_source(source, member_name, readers)
            if cols.get("format") is None:
                cols["format"] = format_from_name(member_name)
            cols["hash"] = _hash_bytes(data)
            cols["size_bytes"] = len(data)
            out.append((info.filename, cols))
    if not out:
        return [("", {"format": "zip", "error": "archive holds no files (only folders, hidden files or junk)"})]
    return out


def read_entry(e: Entry, limits: Limits, readers: ReaderTable | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Read one entry: a file, or every member of an archive ((member, columns) pairs)."""
    if e.kind == "archive":
        return read_archive(e.path, e.name, e.size, limits, readers)
    return [("", read_file(e.path, e.name, e.size, limits, readers))]


def read_task(
    entries: list[Entry], limits: Limits, readers: ReaderTable | None = None
) -> list[tuple[Entry, list[tuple[str, dict[str, Any]]]]]:
    """Read a batch of entries in this process (with ``readers``, default the registered ones)."""
    return [(e, read_entry(e, limits, readers)) for e in entries]


def unread_entry(e: Entry, reason: str) -> list[tuple[str, dict[str, Any]]]:
    """The rows of an entry whose reader process was stopped (or died) on it: one error."""
    if e.kind == "archive":
        return [("", {"format": "zip", "error": reason})]
    reader = reader_for(e.name.lower())
    return [("", {"format": reader.name if reader is not None else format_from_name(e.name), "error": reason})]


def watchdog_deadline(limits: Limits) -> float | None:
    """How long a worker may stay on one file before the parent kills it: the
    per-file budget plus ``limits.watchdog_grace_seconds`` (None: no budget, no watchdog)."""
    if limits.max_seconds_per_file is None or not math.isfinite(limits.max_seconds_per_file):
        return None
    return limits.max_seconds_per_file + limits.watchdog_grace_seconds


def _over_budget_reason(limits: Limits) -> str:
    return budget.OverBudget(limits.max_seconds_per_file or 0).message("read")


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the scanning process dies (even by ``kill -9``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog below
            pass
        else:
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os._exit(1)
            return

    def watchdog() -> None:  # pragma: no cover - platforms without PR_SET_PDEATHSIG
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watchdog, name="printmanager-parent-watchdog", daemon=True).start()


def _worker_init(parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # Ctrl-C is the parent's to handle: it stops submitting and commits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One BLAS thread per worker: the workers already use every core, and
    # OpenBLAS's own threads on top of them halve the throughput (measured).
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _batches(entries: list[Entry]) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    size = 0
    for e in entries:
        batch.append(e)
        size += e.size
        if len(batch) >= TASK_FILES or size >= TASK_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# --------------------------------------------------------------------------
# the scanner (main process)
# --------------------------------------------------------------------------


class Target(NamedTuple):
    """What one scan walks: a folder of a root (the root itself, or a sub-folder),
    or with ``only`` (a file name in ``folder``) that one file."""

    root_id: int
    root: Path
    folder: Path
    only: str | None = None


class Scanner:
    """Scans folders of roots into a store. Use :meth:`Library.scan` rather than this directly.

    The scanner is given what it works with and knows nothing of the library
    around it: the ``store`` it writes, the reading ``limits``, the
    ``library_dir`` (never walked; its ``.printmanagerignore`` rules apply), and
    ``on_event``, called with each file added, changed or found missing (None:
    nobody listens, and no record is built for it). It returns a
    :class:`ScanReport`. ``readers`` is the reader table to read with (default:
    the registered readers, which worker processes look up themselves; a table
    given here is sent to them with each batch, so its readers must pickle).
    """

    def __init__(
        self,
        store: Store,
        *,
        limits: Limits,
        library_dir: Path,
        workers: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        on_event: EventSink | None = None,
        readers: ReaderTable | None = None,
    ):
        self.store = store
        self.files = store.files
        self.limits = limits
        self.library_dir = library_dir
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.progress = progress
        self.report = ScanReport()
        #: the folders the walks saw a ``datapackage.json`` in (the sidecar step opens only those)
        self.sidecar_folders: set[str] = set()
        self._model_ids: dict[str, int] = {}
        self._last_commit = time.monotonic()
        self._on_event = on_event
        #: new file rows (with their ids) not yet written: written together, in the same
        #: transaction, before anything reads the files table or the transaction commits
        self._pending: list[dict[str, Any]] = []
        #: new model rows (with their ids) not yet written: written before the file rows
        self._pending_models: list[dict[str, Any]] = []
        #: models files were written into or out of since the last commit (their ``missing``
        #: is brought up to date before it; see _refresh_touched_models)
        self._models_touched: set[int | None] = set()
        #: whether every model of the root is to be brought up to date (rows went missing)
        self._models_whole_root = False
        #: stored values of rows about to be updated (read in the open transaction only)
        self._stored: dict[int, dict[str, Any]] = {}
        #: files to re-read that have a row (ids, in walk order), and how far the reads of
        #: their stored values got (see _update)
        self._to_update: list[int] = []
        self._ahead = 0
        #: extra arguments of read_task: none for the registered readers
        self._readers: dict[str, ReaderTable] = {} if readers is None else {"readers": readers}

    # -- public --------------------------------------------------------------

    def scan(self, targets: list[Target]) -> ScanReport:
        """Scan every target; returns the report (``interrupted`` after Ctrl-C)."""
        start = time.perf_counter()
        for t in targets:
            if not t.folder.is_dir():
                raise FileNotFoundError(f"{display_path(str(t.folder))}: folder not found")
        previous = self._catch_ctrl_c()
        try:
            for t in targets:
                self._scan_root(t)
        except KeyboardInterrupt:
            self.report.interrupted = True
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        # not in the finally: after a failed write (a full disk) the held-back rows may name
        # models the rollback took away; the error goes up and what was committed stays whole
        self._flush()
        self.store.commit()
        self.report.seconds = time.perf_counter() - start
        return self.report

    # -- Ctrl-C ----------------------------------------------------------------

    _critical = False
    _interrupt_pending = False

    def _catch_ctrl_c(self) -> Any:
        """Make Ctrl-C land between files, never inside one file's rows.

        Python raises KeyboardInterrupt wherever the main thread is; in the middle
        of an archive's members the commit that keeps "the files read so far" would
        keep half an archive, which the next scan then takes as complete. So while a
        file's rows are written (and inside a ``__del__``, where Python would swallow
        it) the interrupt is held and raised when the file is done.
        """
        if threading.current_thread() is not threading.main_thread():
            return None
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None  # the embedding program handles Ctrl-C its own way

        def on_sigint(signum: int, frame: Any) -> None:
            if self._critical or (frame is not None and frame.f_code.co_name == "__del__"):
                self._interrupt_pending = True
                return
            raise KeyboardInterrupt

        return signal.signal(signal.SIGINT, on_sigint)

    # -- one root --------------------------------------------------------------

    def _scan_root(self, target: Target) -> None:
        root_id, root, folder, only = target
        rows = self.files.existing(root_id, str(root), str(folder))
        if only is not None:
            one = os.path.join(str(folder), only)
            rows = [r for r in rows if r.path == one or r.path.startswith(one + ARCHIVE_SEP)]
        by_path = {r.path: r for r in rows}
        archive_rows: dict[str, list[Known]] = {}
        for r in rows:
            if r.archive_path:
                archive_rows.setdefault(r.archive_path, []).append(r)

        ignore, problems = load_rules(root, self.library_dir)
        self.report.skipped.extend(ScanError(p.path, p.message) for p in problems)
        to_read: list[Entry] = []
        seen: set[str] = set()
        for e in walk(root, skip=[self.library_dir], folder=folder, ignore=ignore,
                      skipped=self.report.skipped, readers=self._readers.get("readers"),
                      empty=None if only is not None else self.report.empty_folders, only=only,
                      sidecars=self.sidecar_folders):
            if e.kind == "archive":
                members = archive_rows.get(e.path)
                if members is None and e.path in by_path:
                    members = [by_path[e.path]]  # archive recorded as one unreadable file
                if members and all(
                    m.mtime_ns == e.mtime_ns and (m.archive_size or m.size_bytes) == e.size
                    and not m.missing for m in members
                ):
                    seen.update(m.path for m in members)
                    self.report.unchanged += len(members)
                else:
                    to_read.append(e)
                continue
            row = by_path.get(e.path)
            if row is not None and row.size_bytes == e.size and row.mtime_ns == e.mtime_ns and not row.missing:
                seen.add(e.path)
                self.report.unchanged += 1
            else:
                to_read.append(e)

        # Rows that disappeared (by path) are candidates for moves, else missing.
        read_paths = {e.path for e in to_read}
        gone = [
            r for r in rows
            if r.path not in seen and r.path not in read_paths
            and (r.archive_path or "") not in read_paths
        ]
        self._gone_by_hash: dict[str, list[Known]] = {}
        if gone:
            hashes = self.files.hashes([r.id for r in gone])
            for r in gone:
                h = hashes.get(r.id)
                if h:
                    self._gone_by_hash.setdefault(h, []).append(r)
        self._by_path = by_path
        self._root = str(root)
        self._root_id = root_id
        self._to_update = [m.id for e in to_read for m in (
            archive_rows.get(e.path, ()) if e.kind == "archive" and e.path in archive_rows
            else [by_path[e.path]] if e.path in by_path else ())]
        self._ahead = 0

        self._read_all(to_read)
        self._stored = {}  # stored values read ahead for rows not written (members gone from an archive)

        # Whatever disappeared and did not move is missing now.
        moved_ids = self._moved_ids
        stale_members: list[Known] = []
        for r in gone:
            if r.id in moved_ids or r.missing:
                continue
            self._mark_missing(r)
        # members of re-read archives that are no longer in the archive
        for e in to_read:
            if e.kind == "archive":
                for m in archive_rows.get(e.path, []):
                    if m.path not in self._written and m.id not in moved_ids and not m.missing:
                        stale_members.append(m)
        for m in stale_members:
            self._mark_missing(m)
        if self._models_whole_root:
            self._refresh_models(root_id)
        self._commit()  # and the models whose files were written (_refresh_touched_models)

    # -- reading ---------------------------------------------------------------

    def _read_all(self, entries: list[Entry]) -> None:
        self._moved_ids: set[int] = set()
        self._written: set[str] = set()
        # one count across every root of the scan: the files read before this root are done,
        # and this root's are added to the total when its walk is over
        before = self._done_before
        progress = self.progress
        if progress is not None:
            self.progress = lambda d, t: progress(before + d, before + t)
        self._done_before += len(entries)
        try:
            self._read_entries(entries)
        finally:
            self.progress = progress

    _done_before = 0

    def _read_entries(self, entries: list[Entry]) -> None:
        total = len(entries)
        done = 0
        if self.progress:
            self.progress(0, total)
        limits = self.limits
        total_bytes = sum(e.size for e in entries)
        parallel = (
            self.workers > 1 and total >= PARALLEL_MIN_FILES and total_bytes >= PARALLEL_MIN_BYTES
        )
        if not parallel:
            for batch in _batches(entries):
                self._release()
                for e, results in read_task(batch, limits, **self._readers):
                    self._write(e, results)
                    done += 1
                    if self.progress:
                        self.progress(done, total)
            return
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        pool: WatchedPool[Entry, list[tuple[str, dict[str, Any]]]] = WatchedPool(
            self.workers, ctx, read_one=read_entry, give_up=unread_entry,
            deadline_s=watchdog_deadline(limits), deadline_reason=_over_budget_reason(limits),
            initializer=_worker_init, initargs=(os.getpid(),),
        )
        with pool:
            for e, results in pool.run(_batches(entries), (limits, self._readers.get("readers")), idle=self._release):
                self._write(e, results)
                done += 1
                if self.progress:
                    self.progress(done, total)

    # -- writing ---------------------------------------------------------------

    def _begin(self) -> None:
        if not self.store.in_transaction:
            self.store.begin()
            # what another writer did before this transaction is seen from here on
            self._any_missing: bool | None = None
            self._stored = {}  # what was read ahead belongs to the transaction that read it
            self._next_id: int | None = None
            self._next_model_id: int | None = None

    _any_missing = None
    _next_id = None
    _next_model_id = None

    def _new_id(self) -> int:
        """The id of the next new file row (SQLite's own choice: one more than the largest;
        no one else inserts while the scan's transaction is open)."""
        if self._next_id is None:
            self._next_id = self.files.next_id()
        new_id = self._next_id
        self._next_id += 1
        return new_id

    def _flush(self) -> None:
        """Write the new model and file rows held back (as one whole: a Ctrl-C meanwhile waits)."""
        if not self._pending and not self._pending_models:
            return
        critical, self._critical = self._critical, True
        try:
            self._flush_models()
            self.files.insert_many(self._pending)
            self._pending = []
        finally:
            self._critical = critical

    def _flush_models(self) -> None:
        """Write the new model rows held back (before a file row naming one is written)."""
        if self._pending_models:
            self.store.models.insert_many(self._pending_models)
            self._pending_models = []

    def _missing_anywhere(self) -> bool:
        """Whether the library has a missing file (asked once a transaction: inside the
        scan's transaction only the scan marks files missing, and it notes when it does)."""
        if self._any_missing is None:
            self._any_missing = self.files.any_missing()
        return self._any_missing

    def _commit(self) -> None:
        self._flush()
        self._refresh_touched_models()
        self.store.commit()
        self._last_commit = time.monotonic()
        if self._interrupt_pending and not self._critical:
            raise KeyboardInterrupt  # held while the held-back rows were written: they are committed now

    def _release(self) -> None:
        """Commit before waiting for reads if another writer waits or the transaction is old."""
        if self.store.in_transaction and (
            time.monotonic() - self._last_commit >= RELEASE_AFTER_S or self.store.anyone_waiting()
        ):
            self._commit()

    def _write(self, e: Entry, results: list[tuple[str, dict[str, Any]]]) -> None:
        """Write one entry's rows as a whole (a Ctrl-C meanwhile waits for the end)."""
        self._critical = True
        try:
            self._write_entry(e, results)
        finally:
            self._critical = False
        if self._interrupt_pending:
            raise KeyboardInterrupt

    def _write_entry(self, e: Entry, results: list[tuple[str, dict[str, Any]]]) -> None:
        self._begin()
        for member, cols in results:
            if member:
                path = e.path + ARCHIVE_SEP + member
                name = member.rsplit("/", 1)[-1]
                extra = {"archive_path": display_path(e.path), "archive_size": e.size, "mtime_ns": e.mtime_ns}
            else:
                path, name = e.path, e.name
                extra = {"archive_path": None, "archive_size": None, "mtime_ns": e.mtime_ns,
                         "size_bytes": e.size}
            row: dict[str, Any] = dict(_NOTHING_READ)
            row.update(cols)
            row.update(extra)
            if member:
                row.setdefault("size_bytes", None)
            row["name"] = display_path(name)
            row["model_id"] = self._model_for(e, member)
            row["root_id"] = self._root_id
            row["scanned_at"] = now_iso()
            row["missing"] = 0
            self._upsert(path, row)
            if row.get("error"):
                self.report.errors += 1
                self.report.error_files.append(ScanError(path, row["error"]))
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_S or self.store.anyone_waiting():
            self._commit()

    def _upsert(self, path: str, row: dict[str, Any]) -> None:
        self._written.add(path)
        existing = self._by_path.get(path)
        if existing is not None:
            self._update(existing.id, row)
            self.report.updated += 1
            self._event("file_changed", existing.id)
            self.report.changed_ids.append(existing.id)
            return
        text, exact = stored_path(path)
        h = row.get("hash")
        candidates = self._gone_by_hash.get(h) if h else None
        if candidates:
            old = candidates.pop(0)
            self._update(old.id, {**row, "path": text, "path_bytes": exact})
            self._moved_ids.add(old.id)
            self.report.moved += 1
            self._event("file_changed", old.id)
            self.report.changed_ids.append(old.id)
            return
        # a missing file anywhere in the library with this content takes the new path
        moved_elsewhere = self.files.missing_with_hash(h) if h and self._missing_anywhere() else None
        if moved_elsewhere is not None:
            self._update(moved_elsewhere, {**row, "path": text, "path_bytes": exact})
            self.report.moved += 1
            self._event("file_changed", moved_elsewhere)
            self.report.changed_ids.append(moved_elsewhere)
            return
        row["path"] = text
        row["path_bytes"] = exact
        row["added_at"] = row["scanned_at"]
        new_id = row["id"] = self._new_id()
        self._pending.append(row)
        self._models_touched.add(row["model_id"])
        self.report.added += 1
        self._event("file_added", new_id)
        self.report.changed_ids.append(new_id)

    def _update(self, file_id: int, row: dict[str, Any]) -> None:
        """Write ``row`` over file ``file_id``: only the columns whose value changed
        (:meth:`FilesGateway.update_changed`), against the row as stored, read in this
        transaction a batch of the rows to re-read at a time."""
        self._flush_models()  # the row written now may name a model held back
        stored = self._stored.pop(file_id, None)
        if stored is None:
            # this one, and the next files to re-read (read in the order they were walked)
            ahead = self._to_update[self._ahead : self._ahead + STORED_AHEAD]
            self._ahead += STORED_AHEAD
            found = self.files.current_values([file_id, *ahead], _UPDATED_COLUMNS)
            self._stored.update((i, dict(zip(_UPDATED_COLUMNS, v))) for i, v in found.items())
            stored = self._stored.pop(file_id, None)
        if stored is None:
            self._models_whole_root = True  # the model it was in is not known
            self.files.update(file_id, row)
        else:
            self._models_touched.add(stored["model_id"])
            self.files.update_changed(file_id, row, stored)
        self._models_touched.add(row["model_id"])

    def _mark_missing(self, r: Known) -> None:
        self._begin()
        self._stored.pop(r.id, None)
        self._models_whole_root = True  # (a Known row does not say its model)
        self.files.mark_missing(r.id)
        self._any_missing = True
        self.report.missing += 1
        self._event("file_removed", r.id)

    def _event(self, hook_name: str, file_id: int) -> None:
        if self._on_event is None:
            return
        self._flush()
        rec = self.files.by_id(file_id)
        if rec is not None:
            self._on_event(hook_name, rec)

    # -- models ----------------------------------------------------------------

    def _model_for(self, e: Entry, member: str) -> int:
        path, name, kind = model_of(self._root, e.path, e.kind == "archive")
        return self._model_id(path, name, kind)

    def _model_id(self, path: str, name: str, kind: str) -> int:
        """The id of the model at ``path``; a new model is held back with the new file rows
        and written with them (one statement for many, as they are), before them."""
        cached = self._model_ids.get(path)
        if cached is not None:
            return cached
        models = self.store.models
        mid = models.existing_id(path)
        if mid is None:
            if self._next_model_id is None:
                self._next_model_id = models.next_id()
            mid = self._next_model_id
            self._next_model_id += 1
            self._pending_models.append(models.new_row(mid, self._root_id, path, name, kind))
        self._model_ids[path] = mid
        return mid

    def _refresh_models(self, root_id: int) -> None:
        """Every model of the root marked missing exactly when none of its files is present
        (after rows went missing: the models of those rows are not at hand)."""
        self._begin()
        self._flush()
        self.store.models.refresh_missing(root_id)
        self._models_whole_root = False
        self._models_touched.clear()

    def _refresh_touched_models(self) -> None:
        """Bring up to date the ``missing`` of the models files were written into or out of
        since the last commit (in the transaction that wrote them, so a commit never leaves a
        model's flag behind its files, even when the scan is killed afterwards)."""
        touched = self._models_touched
        touched.discard(None)
        if touched:
            self.store.models.refresh_missing_of(touched)
            touched.clear()
