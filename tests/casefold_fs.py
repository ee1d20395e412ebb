"""A real case-insensitive, case-preserving filesystem for tests, like NTFS, APFS or exFAT.

Linux's own case folding (ext4/tmpfs ``casefold``) needs a kernel built with
CONFIG_UNICODE, which this machine's is not; so this is a FUSE passthrough
(mfusepy over libfuse 3) onto a backing folder in which every name is looked up
ignoring case: ``Hull.stl`` and ``hull.stl`` are one file, a new file keeps the case
it was created with, creating or renaming onto another spelling of an existing name
reaches that file. The kernel, not this module, turns those answers into ``open``,
``link``, ``rename`` and ``stat`` results, so code under test meets the real thing.

Run as ``python casefold_fs.py BACKING MOUNTPOINT`` (foreground); unmount with
``fusermount3 -u MOUNTPOINT``. :func:`mounted` does both around a ``with`` block.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator


def _ops() -> Any:
    import mfusepy

    class CaseFolding(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True  # times in nanoseconds, as os.stat and os.utime have them

        def __init__(self, backing: str):
            self.backing = os.path.realpath(backing)

        def _real(self, path: str) -> str:
            """The backing path of ``path``, each component matched ignoring case."""
            real = self.backing
            for part in [p for p in path.split("/") if p]:
                exact = os.path.join(real, part)
                if os.path.lexists(exact):
                    real = exact
                    continue
                folded = part.casefold()
                try:
                    match = next((n for n in sorted(os.listdir(real)) if n.casefold() == folded), None)
                except (FileNotFoundError, NotADirectoryError):
                    match = None
                real = os.path.join(real, match or part)
            return real

        @staticmethod
        def _wrap(call: Any, *args: Any) -> Any:
            try:
                return call(*args)
            except OSError as exc:
                raise mfusepy.FuseOSError(exc.errno or errno.EIO) from None

        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            st = self._wrap(os.lstat, self._real(path))
            keys = ("st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime")
            out = {k: getattr(st, k) for k in keys}
            out.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
            return out

        def readdir(self, path: str, fh: Any) -> list[Any]:
            # with use_ino every entry needs its inode number (0 would hide it from readdir)
            real = self._real(path)
            out: list[Any] = [".", ".."]
            for name in self._wrap(os.listdir, real):
                st = os.lstat(os.path.join(real, name))
                out.append((name, {"st_ino": st.st_ino, "st_mode": st.st_mode}, 0))
            return out

        def access(self, path: str, amode: int) -> int:
            if not os.access(self._real(path), amode):
                raise mfusepy.FuseOSError(errno.EACCES)
            return 0

        def mkdir(self, path: str, mode: int) -> int:
            return self._wrap(os.mkdir, self._real(path), mode) or 0

        def rmdir(self, path: str) -> int:
            return self._wrap(os.rmdir, self._real(path)) or 0

        def unlink(self, path: str) -> int:
            return self._wrap(os.unlink, self._real(path)) or 0

        def rename(self, old: str, new: str) -> int:
            return self._wrap(os.rename, self._real(old), self._real(new)) or 0

        def link(self, target: str, source: str) -> int:
            return self._wrap(os.link, self._real(source), self._real(target)) or 0

        def chmod(self, path: str, mode: int) -> int:
            return self._wrap(os.chmod, self._real(path), mode) or 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            return self._wrap(os.chown, self._real(path), uid, gid) or 0

        def utimens(self, path: str, times: Any = None) -> int:
            kwargs = {"ns": tuple(times)} if times else {}
            return self._wrap(lambda: os.utime(self._real(path), **kwargs)) or 0

        def truncate(self, path: str, length: int, fh: Any = None) -> int:
            return self._wrap(os.truncate, self._real(path), length) or 0

        def statfs(self, path: str) -> dict[str, Any]:
            st = os.statvfs(self._real(path))
            keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                    "f_frsize", "f_namemax")  # fmt: skip
            return {k: getattr(st, k) for k in keys}

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            return self._wrap(os.open, self._real(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

        def open(self, path: str, flags: int) -> int:
            return self._wrap(os.open, self._real(path), flags)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            return self._wrap(os.pread, fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            return self._wrap(os.pwrite, fh, data, offset)

        def flush(self, path: str, fh: int) -> int:
            return 0

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            return self._wrap(os.fsync, fh) or 0

        def release(self, path: str, fh: int) -> int:
            return self._wrap(os.close, fh) or 0

    return CaseFolding


@contextlib.contextmanager
def mounted(backing: Path, mountpoint: Path) -> Iterator[Path]:
    """Mount a case-insensitive view of ``backing`` at ``mountpoint`` for the block."""
    backing.mkdir(parents=True, exist_ok=True)
    mountpoint.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, __file__, str(backing), str(mountpoint)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the case-insensitive test filesystem did not mount: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        yield mountpoint
    finally:
        subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    import mfusepy

    mfusepy.FUSE(_ops()(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True,
                 use_ino=True, entry_timeout=0, attr_timeout=0, negative_timeout=0)  # fmt: skip
