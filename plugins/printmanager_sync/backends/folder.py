"""The folder backend: a directory on a local or mounted drive (NAS, USB, Dropbox folder).

Objects are files under the folder, written to a hidden temporary file, flushed
to disk, then renamed into place (atomic on POSIX and Windows), so a crash never
leaves a partial object under a real name. The head is updated by
compare-and-swap under a lock file (``O_CREAT|O_EXCL``); its version tag is the
SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..errors import Conflict, ObjectMissing, SyncError
from .base import ObjectInfo, SourceFile, UploadSource

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from ..journal import Journal

TMP_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"
#: a lock file older than this is left over from a crash and is broken
STALE_LOCK_S = 60.0


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderBackend:
    """A container in a folder.

    :param path: the folder (created if missing).
    """

    name = "folder"

    def __init__(self, path: str | os.PathLike[str]):
        self.root = Path(path).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SyncError(f"cannot use {path} as a sync folder: {exc.strerror}") from None
        if not self.root.is_dir():
            raise SyncError(f"{path} is not a folder")

    def describe(self) -> dict[str, Any]:
        return {"backend": "folder", "path": str(self.root)}

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
            raise SyncError(f"invalid object name {name!r}")
        return self.root.joinpath(*[p for p in parts if p])

    def _write_atomic(self, target: Path, pieces: Iterable[bytes], before_commit: Callable[[], None] | None = None) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{TMP_PREFIX}{os.urandom(6).hex()}"
        try:
            with open(tmp, "wb") as f:
                for piece in pieces:
                    f.write(piece)
                f.flush()
                os.fsync(f.fileno())
            if before_commit is not None:
                before_commit()
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def put(
        self, name: str, source: UploadSource, *, journal: "Journal | None" = None, origin: SourceFile | None = None
    ) -> None:
        self._write_atomic(self._path(name), source.iter_range(0, source.size), source.verify_source)

    def put_bytes(self, name: str, data: bytes) -> None:
        self._write_atomic(self._path(name), [data])

    def get(self, name: str, sink: Callable[[bytes], None]) -> int:
        try:
            f = open(self._path(name), "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"{name} is not in the container") from None
        total = 0
        with f:
            while True:
                data = f.read(1 << 20)
                if not data:
                    return total
                sink(data)
                total += len(data)

    def get_bytes(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def read_versioned(self, name: str) -> tuple[bytes, str] | None:
        data = self.get_bytes(name)
        if data is None:
            return None
        return data, hashlib.sha256(data).hexdigest()

    def _lock(self, target: Path) -> Path:
        lock = target.with_name(target.name + LOCK_SUFFIX)
        target.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > STALE_LOCK_S:
                    lock.unlink(missing_ok=True)
                    continue
                if time.monotonic() > deadline:
                    raise Conflict(f"{target.name} is locked by another device (lock file {lock})") from None
                time.sleep(0.05)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            return lock

    def write_conditional(self, name: str, data: bytes, *, expect: str | None) -> str:
        target = self._path(name)
        lock = self._lock(target)
        try:
            current = self.read_versioned(name)
            current_tag = current[1] if current else None
            if current_tag != expect:
                raise Conflict(f"{name} changed since it was read")
            self._write_atomic(target, [data])
        finally:
            lock.unlink(missing_ok=True)
        return hashlib.sha256(data).hexdigest()

    def stat(self, name: str) -> ObjectInfo | None:
        try:
            st = self._path(name).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(name, st.st_size)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(base + "/x").parent if base else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for fname in sorted(filenames):
                if fname.startswith(TMP_PREFIX) or fname.endswith(LOCK_SUFFIX):
                    continue
                full = Path(dirpath) / fname
                name = full.relative_to(self.root).as_posix()
                if name.startswith(prefix):
                    try:
                        yield ObjectInfo(name, full.stat().st_size)
                    except FileNotFoundError:
                        continue

    def list_dirs(self, prefix: str) -> list[str]:
        folder = self._path(prefix.rstrip("/") + "/x").parent if prefix.strip("/") else self.root
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def delete(self, names: Iterable[str]) -> int:
        count = 0
        parents: set[Path] = set()
        for name in names:
            path = self._path(name)
            try:
                path.unlink()
                count += 1
                parents.add(path.parent)
            except FileNotFoundError:
                pass
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            while parent != self.root and parent.is_relative_to(self.root):
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent
        return count

    def abort_upload(self, name: str, upload_id: str) -> None:
        pass  # folder uploads are temporary files, removed as they fail

    def abort_uploads(self, prefix: str) -> int:
        count = 0
        base = self.root / prefix if prefix else self.root
        if base.is_dir():
            for dirpath, _dirs, filenames in os.walk(base):
                for fname in filenames:
                    if fname.startswith(TMP_PREFIX) or fname.endswith(LOCK_SUFFIX):
                        (Path(dirpath) / fname).unlink(missing_ok=True)
                        count += 1
        return count

    def close(self) -> None:
        pass


def folder_factory(config: dict[str, Any], library: "Library") -> FolderBackend:
    """Build the folder backend from ``{"backend": "folder", "path": ...}``."""
    path = config.get("path")
    if not path:
        raise SyncError("the folder backend needs a path (--path DIR)")
    return FolderBackend(path)
