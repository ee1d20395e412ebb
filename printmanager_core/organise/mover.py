"""Carrying out an organise batch from its journal, so that a crash or a full disk loses nothing.

The journal (``organise_batches``/``organise_steps``, m022) is written before
anything on disk changes; each step then walks its states, each committed before
the next thing happens on disk:

* a ``file`` on one filesystem: ``planned`` → hard link at the destination (or a
  rename where links are not supported; never over an existing name) → ``placed``
  (its catalogue rows take the new path in the same transaction) → the source
  name removed → ``done``;
* a ``file`` onto another filesystem: ``planned`` → copied to a temporary name
  beside the destination, fsynced, read back and its SHA-256 compared with what
  was read → ``copied`` → linked to its name (never over one) → ``placed`` (with
  the catalogue) → the source, checked once more, removed → ``done``;
* a ``case`` step renames a folder (or archive) through a temporary name, so a
  case-only rename works on a filesystem that ignores case;
* a ``dir`` step makes an empty folder of the model at the destination;
* a ``model`` step gives the model's row its new place and removes the folders the
  moves emptied.

Each file a ``file`` or ``case`` step moved is announced to plugins (``file_moved``
with its old path, then ``file_changed``) once its rows are committed and its
source name is gone, before the step is ``done``: the sync plugin carries its
cache of object ids along.

Whatever step a crash stops at, every file is whole at its source, at its
destination, or both; :func:`run` picks a batch up where it stopped (``--resume``)
and :func:`undo` settles an unfinished batch, then writes and runs its inverse.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
from typing import TYPE_CHECKING, Any, Callable

import attrs

from ..errors import NotFound, PrintManagerError, UsageError
from ..paths import display_path, is_within, printable
from ..store.organise import Batch, Step
from .plan import Plan

if TYPE_CHECKING:  # pragma: no cover
    from ..library import Library

#: the test hook: ``<point>:<n>`` kills this process (SIGKILL) the n-th time the mover reaches ``point``
KILL_ENV = "PRINTMANAGER_TEST_KILL_AT"
#: the points :data:`KILL_ENV` can name, in the order a step reaches them
KILL_POINTS = ("journal", "rename", "linked", "copy", "copied", "placed", "catalogued", "removed", "case", "model",
               "pruned")
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_CHUNK = 1 << 20


class OrganiseError(PrintManagerError):
    """A step of an organise batch could not be done; the batch stops there, nothing is lost."""


class DiskFull(OrganiseError):
    """The destination's disk (or quota, or file size limit) is full."""


@attrs.define
class OrganiseReport:
    """What a run (or undo) of a batch did."""

    batch: int
    kind: str
    undoes: int | None = None
    models: int = 0
    files: int = 0
    bytes: int = 0
    renamed: int = 0
    copied: int = 0

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of a report (``organise --json``)."""
        return attrs.asdict(self)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open a folder; its renames are durable on their own
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _listed(path: str) -> bool:
    """Whether ``path``'s folder lists its name exactly (not another spelling of it)."""
    try:
        return os.path.basename(path) in os.listdir(os.path.dirname(path))
    except OSError:
        return False


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class Mover:
    """Runs the steps of one batch (see the module's text).

    :param progress: called as ``progress(done, total, path)`` after each step.
    """

    def __init__(self, lib: "Library", batch: Batch, progress: Callable[[int, int, str], None] | None = None):
        self.lib = lib
        self.store = lib.store
        self.journal = lib.store.organise
        self.batch = batch
        self.progress = progress
        self.report = OrganiseReport(batch.id, batch.kind, batch.undoes)
        self._kill_at: tuple[str, int] | None = None
        spec = os.environ.get(KILL_ENV, "")
        if spec:
            point, _, n = spec.partition(":")
            self._kill_at = (point, int(n or 1))
        self._seen: dict[str, int] = {}
        #: step id -> the ids of the files its catalogue update moved (until announced)
        self._moved: dict[int, list[int]] = {}

    # -- the test hook ---------------------------------------------------------------

    def kill_point(self, point: str) -> None:
        """Kill this process here when :data:`KILL_ENV` names this point (tests of crash safety)."""
        if self._kill_at is None:
            return
        self._seen[point] = self._seen.get(point, 0) + 1
        if self._kill_at == (point, self._seen[point]):
            os.kill(os.getpid(), signal.SIGKILL)

    # -- running -------------------------------------------------------------------

    def run(self) -> OrganiseReport:
        """Do every step not done yet, in order; mark the batch done (an undo: its original undone)."""
        steps = self.journal.steps(self.batch.id)
        total = len(steps)
        for i, step in enumerate(steps):
            if step.state not in ("done", "skipped"):
                try:
                    self.step(step)
                except OSError as exc:
                    raise self._failed(step, exc, steps) from None
                except OrganiseError as exc:
                    self.journal.set_batch(self.batch.id, error=str(exc))
                    raise
            if self.progress is not None:
                self.progress(i + 1, total, display_path(step.dst))
        from ..clock import now_iso

        self.journal.set_batch(self.batch.id, status="done", finished_at=now_iso(), error=None)
        if self.batch.undoes is not None:
            self.journal.set_batch(self.batch.undoes, status="undone")
        return self.report

    def _failed(self, step: Step, exc: OSError, steps: list[Step]) -> OrganiseError:
        done = sum(1 for s in self.journal.steps(self.batch.id) if s.state in ("done", "skipped"))
        again = "organise --resume" if self.batch.kind == "organise" else "organise --resume (it finishes the undo)"
        where = printable(display_path(step.dst))
        tail = (f"({done} of {len(steps)} steps done; nothing lost: free space and run printmanager {again}, "
                f"or printmanager organise --undo)")
        if exc.errno == errno.EFBIG:  # larger than the filesystem takes (FAT32: 4 GB) or a file size limit
            err: OrganiseError = DiskFull(
                f"file too large for the destination: {where} not moved (its filesystem, such as FAT32 with 4 GB, "
                f"or a file size limit takes no file this big; {done} of {len(steps)} steps done; nothing lost: "
                f"printmanager organise --undo puts the batch back, or {again} once it fits)")
        elif exc.errno in _FULL:
            err = DiskFull(f"disk full: {where} not moved {tail}")
        else:
            reason = (exc.strerror or str(exc)).lower()
            name = printable(os.fsdecode(exc.filename)) if exc.filename else where
            err = OrganiseError(f"cannot move to {where}: {name}: {reason} {tail}")
        self.journal.set_batch(self.batch.id, error=str(err))
        return err

    def step(self, step: Step) -> None:
        """Carry one step forward from whatever state it is in."""
        getattr(self, f"_{step.kind}")(step)

    # -- files ------------------------------------------------------------------------

    def _tmp(self, step: Step) -> str:
        return os.path.join(os.path.dirname(step.dst), f".pm-organise-{step.id}.part")

    def _ours(self, step: Step) -> bool:
        """Whether the destination holds this step's file (placed before a crash)."""
        dst, src = step.dst, step.src
        if not os.path.lexists(dst):
            return False
        if step.method == "rename":
            if os.path.lexists(src):
                return _same(src, dst)
            st = os.lstat(dst)
            return (st.st_ino, st.st_size, st.st_mtime_ns) == (step.inode, step.size, step.mtime_ns)
        if step.method == "copy" and step.state == "copied" and step.hash:
            return _sha256(dst) == step.hash
        return False

    def _make_parents(self, step: Step, folder: str) -> None:
        """Make ``folder`` and the folders above it that are missing, recording them first."""
        missing = []
        cur = folder
        while not os.path.lexists(cur) and os.path.dirname(cur) != cur:
            missing.append(cur)
            cur = os.path.dirname(cur)
        if not missing:
            return
        step.created_dirs = sorted(set(step.created_dirs) | set(missing))
        self.journal.set_step(step.id, created_dirs=step.created_dirs)
        os.makedirs(folder, exist_ok=True)
        _fsync_dir(cur)

    def _file(self, step: Step) -> None:
        src, dst = step.src, step.dst
        if step.state in ("planned", "copied"):
            tmp = self._tmp(step)
            if not self._ours(step):
                if os.path.lexists(dst):
                    raise OrganiseError(f"{printable(display_path(dst))} appeared meanwhile; it is not "
                                        "overwritten (move it away and run printmanager organise --resume)")
                if not os.path.lexists(src):
                    raise OrganiseError(f"{printable(display_path(src))} is gone from disk; "
                                        "nothing of it can be moved")
                self._make_parents(step, os.path.dirname(dst))
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                st = os.lstat(src)
                if st.st_dev == os.stat(os.path.dirname(dst)).st_dev:
                    step.method, step.size, step.mtime_ns, step.inode = "rename", st.st_size, st.st_mtime_ns, st.st_ino
                    self.journal.set_step(step.id, method="rename", size=st.st_size, mtime_ns=st.st_mtime_ns,
                                          inode=st.st_ino)
                    self.kill_point("rename")
                    self._link_or_rename(src, dst)
                    _fsync_dir(os.path.dirname(dst))
                    self.kill_point("linked")
                    self.report.renamed += 1
                else:
                    step.method, step.size = "copy", st.st_size
                    self.journal.set_step(step.id, method="copy", size=st.st_size, state="planned")
                    digest = self._copy(src, tmp)
                    step.state, step.hash = "copied", digest
                    self.journal.set_step(step.id, state="copied", hash=digest)
                    self.kill_point("copied")
                    self._link_or_rename(tmp, dst, keep_source=False)
                    _fsync_dir(os.path.dirname(dst))
                    self.kill_point("placed")
                    self.report.copied += 1
            elif os.path.lexists(tmp) and step.method == "copy":
                os.unlink(tmp)
            with self.store.transaction():
                self._moved[step.id] = self.journal.move_paths(src, dst, step.dst_root_id)
                self.journal.set_step(step.id, state="placed")
            step.state = "placed"
            self.kill_point("catalogued")
        if step.state == "placed":
            if os.path.lexists(src) and _listed(src):
                if step.method == "copy" and not _same(src, dst):
                    if step.hash and _sha256(dst) != step.hash:
                        raise OrganiseError(f"{printable(display_path(dst))} no longer matches what was copied; "
                                            f"its source {printable(display_path(src))} is kept")
                elif step.method == "rename" and not _same(src, dst):
                    raise OrganiseError(f"{printable(display_path(src))} is a new file (not the one moved); "
                                        "it is left where it is")
                os.unlink(src)
                _fsync_dir(os.path.dirname(src))
                self.kill_point("removed")
            self._announce(step)
            self.journal.set_step(step.id, state="done")
            step.state = "done"
            self.report.files += 1
            self.report.bytes += step.size or 0

    def _announce(self, step: Step) -> None:
        """Tell plugins that each file of ``step`` moved: ``file_moved`` (with its old path),
        then ``file_changed``. Called once the step's catalogue rows are committed and its
        source name is gone, before the step is marked done, so a step finished after a
        crash tells it (again): at least once, never before the move."""
        from ..plugins import hook_implementations

        moved = self._moved.pop(step.id, None)
        if not (hook_implementations("file_moved") or hook_implementations("file_changed")):
            return
        if moved is None:  # rows moved before a crash: they are the files at the destination
            moved = self.journal.file_rows_at(step.dst)
        for file_id in moved:
            file = self.lib.file(file_id)
            old_path = step.src + file.path[len(step.dst):]
            self.lib._file_event("file_moved", file, old_path=old_path)
            self.lib._file_event("file_changed", file)

    @staticmethod
    def _link_or_rename(src: str, dst: str, *, keep_source: bool = True) -> None:
        """Give ``src``'s file the name ``dst``, never replacing an existing ``dst``.

        A hard link first (it fails when ``dst`` exists); where the filesystem has no
        links, a rename after checking ``dst`` is free. ``keep_source``: leave the
        source name (removed by the caller later) when a link was made.
        """
        try:
            os.link(src, dst, follow_symlinks=False)
        except FileExistsError:
            raise OrganiseError(f"{printable(display_path(dst))} exists; it is not overwritten") from None
        except OSError as exc:
            if exc.errno in _FULL:
                raise
            if os.path.lexists(dst):
                raise OrganiseError(f"{printable(display_path(dst))} exists; it is not overwritten") from None
            os.rename(src, dst)
            return
        if not keep_source:
            os.unlink(src)

    def _copy(self, src: str, tmp: str) -> str:
        """Copy ``src`` to ``tmp`` (a new name), fsync it, read it back: its SHA-256, checked."""
        h = hashlib.sha256()
        try:
            with open(src, "rb") as fi, open(tmp, "xb") as fo:
                first = True
                while chunk := fi.read(_CHUNK):
                    h.update(chunk)
                    fo.write(chunk)
                    if first:
                        fo.flush()
                        self.kill_point("copy")
                        first = False
                fo.flush()
                shutil.copystat(src, tmp)  # modes and times (to the nanosecond), as the catalogue knows them
                os.fsync(fo.fileno())
            _fsync_dir(os.path.dirname(tmp))
            digest = "sha256:" + h.hexdigest()
            if _sha256(tmp) != digest:
                raise OrganiseError(f"the copy {printable(display_path(tmp))} does not read back as written; "
                                    f"{printable(display_path(src))} is kept")
            return digest
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # -- folders --------------------------------------------------------------------

    def _dir(self, step: Step) -> None:
        self._make_parents(step, step.dst)
        self.journal.set_step(step.id, state="done")
        step.state = "done"

    def _case(self, step: Step) -> None:
        src, dst = step.src, step.dst
        tmp = os.path.join(os.path.dirname(src), f".pm-organise-{step.id}.case")
        if step.state == "planned":
            if not os.path.lexists(tmp) and _listed(src) and not _listed(dst):
                os.rename(src, tmp)
                _fsync_dir(os.path.dirname(src))
                self.kill_point("case")
            if os.path.lexists(tmp):
                if os.path.lexists(dst) and not _same(tmp, dst):
                    raise OrganiseError(f"{printable(display_path(dst))} appeared meanwhile; it is not overwritten")
                os.rename(tmp, dst)
                _fsync_dir(os.path.dirname(dst))
            with self.store.transaction():
                self._moved[step.id] = self.journal.move_paths(src, dst, step.dst_root_id, models=True)
                self.journal.set_step(step.id, state="placed")
            step.state = "placed"
        self._announce(step)
        self.journal.set_step(step.id, state="done")
        step.state = "done"
        self.report.renamed += 1

    def _model(self, step: Step) -> None:
        detail = dict(step.detail)
        new = detail.get("new")
        if step.state == "planned":
            with self.store.transaction():
                if new is not None and step.model_id is not None:
                    self.journal.place_model(step.model_id, new["path"], new["kind"], new["root_id"])
                self.journal.set_step(step.id, state="placed")
            step.state = "placed"
            self.kill_point("model")
        for folder in detail.get("make", []):
            os.makedirs(folder, exist_ok=True)
        removed = list(detail.get("removed", []))
        limits = [r.path for r in self.lib.root_records()]
        for folder in sorted(detail.get("prune", []), key=len, reverse=True):
            # up from each emptied folder while it is empty, never a root nor above one
            inside = [r for r in limits if is_within(folder, r)]
            if not inside:
                continue
            root = max(inside, key=len)
            cur = folder
            while cur != root and is_within(cur, root) and _remove_if_empty(cur):
                removed.append(cur)
                cur = os.path.dirname(cur)
        for folder in sorted(detail.get("prune_only", []), key=len, reverse=True):
            if folder not in limits and _remove_if_empty(folder):
                removed.append(folder)
        detail["removed"] = sorted(set(removed))
        self.kill_point("pruned")
        self.journal.set_step(step.id, state="done", detail=detail)
        step.state = "done"
        if new is not None:
            self.report.models += 1


def _remove_if_empty(folder: str) -> bool:
    """Remove ``folder`` if it is an empty folder (whether it went)."""
    try:
        if os.path.islink(folder) or not os.path.isdir(folder) or os.listdir(folder):
            return False
        os.rmdir(folder)
        _fsync_dir(os.path.dirname(folder))
        return True
    except OSError:
        return False


# -- writing batches ----------------------------------------------------------------------


def steps_of(plan: Plan, root_id: int) -> list[dict[str, Any]]:
    """The journal steps of a plan: per model, its empty folders, its files, then the model itself."""
    out: list[dict[str, Any]] = []
    for m in plan.moving:
        old = {"path": m.src, "kind": m.kind, "root_id": None}
        new = {"path": m.dst, "kind": m.new_kind, "root_id": root_id}
        prune = sorted({os.path.dirname(s) for s, _ in m.files} | {s for s, _ in m.dirs}
                       | ({m.src} if m.kind == "folder" else set()))
        if m.action == "case":
            out.append({"kind": "case", "model_id": m.model_id, "src": m.src, "dst": m.dst, "dst_root_id": root_id})
            prune = []
        else:
            out += [{"kind": "dir", "model_id": m.model_id, "src": s, "dst": d, "dst_root_id": root_id}
                    for s, d in m.dirs]
            out += [{"kind": "file", "model_id": m.model_id, "src": s, "dst": d, "dst_root_id": root_id}
                    for s, d in m.files]
        out.append({"kind": "model", "model_id": m.model_id, "src": m.src, "dst": m.dst, "dst_root_id": root_id,
                    "detail": {"old": old, "new": new, "prune": prune}})
    return out


def start(lib: "Library", plan: Plan, root_id: int) -> Batch:
    """Write the journal of ``plan`` (every step, before anything moves); the new batch."""
    steps = steps_of(plan, root_id)
    for s in steps:  # where each model and file was, so an undo puts it back in its own root
        if s["kind"] == "model" and s["model_id"] is not None:
            place = lib.store.organise.model_place(s["model_id"])
            if place is not None:
                s["detail"]["old"]["root_id"] = place["root_id"]
    batch_id = lib.store.organise.create_batch(kind="organise", query=plan.query, root_id=root_id, steps=steps)
    batch = lib.store.organise.batch(batch_id)
    assert batch is not None
    return batch


def running(lib: "Library") -> Batch | None:
    """The interrupted batch, if any."""
    return lib.store.organise.running()


def _settle(mover: Mover, steps: list[Step]) -> None:
    """Bring every unfinished step of an interrupted batch to ``done`` or ``skipped``.

    A step whose source is still whole is rolled back (its temporary copy or link
    removed: ``skipped``); one that is past the point of no return (its source name
    gone, or its catalogue rows updated) is finished.
    """
    journal = mover.journal
    for step in steps:
        if step.state in ("done", "skipped"):
            continue
        if step.kind == "file" and step.state in ("planned", "copied") and os.path.lexists(step.src):
            tmp = mover._tmp(step)
            if os.path.lexists(tmp):
                os.unlink(tmp)
            if mover._ours(step) and _listed(step.src):
                os.unlink(step.dst)
                _fsync_dir(os.path.dirname(step.dst))
            journal.set_step(step.id, state="skipped")
            step.state = "skipped"
        elif step.kind == "case" and step.state == "planned" and _listed(step.src):
            journal.set_step(step.id, state="skipped")
            step.state = "skipped"
        elif step.kind in ("dir", "model") and step.state == "planned":
            journal.set_step(step.id, state="skipped")
            step.state = "skipped"
        else:
            mover.step(step)


def inverse_steps(steps: list[Step], src_roots: dict[int | None, int | None]) -> list[dict[str, Any]]:
    """The steps that reverse a settled batch: per model (last first) its files back,
    its folders remade, then its row back in place and the folders the batch made removed."""
    by_model: dict[Any, list[Step]] = {}
    order: list[Any] = []
    for s in steps:
        key = s.model_id
        if key not in by_model:
            by_model[key] = []
            order.append(key)
        by_model[key].append(s)
    out: list[dict[str, Any]] = []
    for key in reversed(order):
        group = by_model[key]
        model_step = next((s for s in group if s.kind == "model"), None)
        root_back = src_roots.get(key)
        made = set()
        for s in group:
            made.update(s.created_dirs)
        for s in reversed(group):
            if s.state != "done":
                continue
            if s.kind == "file":
                out.append({"kind": "file", "model_id": key, "src": s.dst, "dst": s.src, "dst_root_id": root_back})
            elif s.kind == "case":
                out.append({"kind": "case", "model_id": key, "src": s.dst, "dst": s.src, "dst_root_id": root_back})
            elif s.kind == "dir":
                out.append({"kind": "dir", "model_id": key, "src": s.dst, "dst": s.src, "dst_root_id": root_back})
                made.add(s.dst)
        detail: dict[str, Any] = {"prune_only": sorted(made)}
        if model_step is not None and model_step.state == "done":
            detail["new"] = model_step.detail.get("old")
            detail["old"] = model_step.detail.get("new")
            detail["make"] = model_step.detail.get("removed", [])
        src = model_step.dst if model_step else (group[0].dst if group else "")
        dst = model_step.src if model_step else (group[0].src if group else "")
        out.append({"kind": "model", "model_id": key, "src": src, "dst": dst, "dst_root_id": root_back,
                    "detail": detail})
    return out


def undo(lib: "Library", batch_id: int | None = None,
         progress: Callable[[int, int, str], None] | None = None) -> OrganiseReport:
    """Reverse a batch exactly (default: the newest one not undone); an interrupted one is
    settled first. An interrupted undo is finished instead."""
    journal = lib.store.organise
    batches = journal.batches()
    if batch_id is None:
        pending = journal.running()
        if pending is not None and pending.kind == "undo":
            return Mover(lib, pending, progress).run()
        target = next((b for b in batches if b.kind == "organise" and b.status != "undone"), None)
        if target is None:
            raise NotFound("no organise batch to undo (printmanager organise --list shows them)")
    else:
        target = journal.batch(batch_id)
        if target is None:
            raise NotFound(f"no organise batch {batch_id} (printmanager organise --list shows them)")
        if target.kind != "organise":
            raise UsageError(f"batch {batch_id} is an undo; organise again rather than undo an undo")
        if target.status == "undone":
            raise UsageError(f"batch {batch_id} is undone already")
        pending = next((b for b in batches if b.kind == "undo" and b.undoes == target.id and b.status == "running"),
                       None)
        if pending is not None:
            return Mover(lib, pending, progress).run()
    later = [b for b in batches if b.kind == "organise" and b.id > target.id and b.status != "undone"]
    if later:
        raise UsageError(f"batch {target.id} has later batches not undone ({', '.join(str(b.id) for b in later)}); "
                         "undo them first")
    steps = journal.steps(target.id)
    _settle(Mover(lib, target), steps)
    journal.set_batch(target.id, status="done")
    src_roots: dict[int | None, int | None] = {}
    for s in steps:
        if s.kind == "model":
            src_roots[s.model_id] = (s.detail.get("old") or {}).get("root_id")
    inverse = inverse_steps(steps, src_roots)
    new_id = journal.create_batch(kind="undo", query=target.query, root_id=target.root_id, undoes=target.id,
                                  steps=inverse)
    batch = journal.batch(new_id)
    assert batch is not None
    mover = Mover(lib, batch, progress)
    mover.kill_point("journal")
    return mover.run()
