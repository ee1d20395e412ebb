"""What a sync backend is: a flat store of named, write-once objects plus one
object (the head) updated by compare-and-swap.

Object names are ``/``-separated and relative to the backend's root. A backend
never makes a partial object visible: an upload either completes (and then the
object has exactly the bytes sent) or leaves nothing under the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from ..journal import Journal


@attrs.frozen
class ObjectInfo:
    """An object in the container: its name, stored size, and ETag when known."""

    name: str
    size: int
    etag: str | None = None


class UploadSource(Protocol):
    """The bytes of one object to store, produced on demand (see ``ObjectEncryptor``)."""

    size: int
    salt: bytes

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def read_range(self, start: int, end: int) -> bytes: ...

    def verify_source(self) -> None: ...


@attrs.frozen
class SourceFile:
    """Where an upload's plaintext comes from, for the resumable-upload journal."""

    path: str
    size: int
    mtime_ns: int


def place(info: dict[str, Any]) -> str:
    """Where a backend points, as words for a message: ``the folder /mnt/nas/sync``,
    ``the bucket prints at https://...`` (from a config or :meth:`Backend.describe`)."""
    kind = str(info.get("backend", "?"))
    if kind == "folder" and info.get("path"):
        return f"the folder {info['path']}"
    if info.get("bucket") and info.get("endpoint"):
        return f"the bucket {info['bucket']} at {info['endpoint']}"
    if info.get("credentials"):  # where is up to the source (the printmanager service's hosted storage)
        return f"the hosted storage of the {info['credentials']} credential source"
    details = ", ".join(f"{k} {v}" for k, v in sorted(info.items()) if k != "backend" and isinstance(v, (str, int)))
    return f"the {kind} backend" + (f" ({details})" if details else "")


@runtime_checkable
class Backend(Protocol):
    """A sync backend (see ``docs/plugin_hooks.md``, ``register_sync_backends``)."""

    name: str

    def describe(self) -> dict[str, Any]:
        """What the backend points at, for ``sync status`` (never secrets)."""

    def put(
        self, name: str, source: UploadSource, *, journal: "Journal | None" = None, origin: SourceFile | None = None
    ) -> None:
        """Store a (large) object; call ``source.verify_source()`` before committing it."""

    def put_bytes(self, name: str, data: bytes) -> None:
        """Store a small object held in memory."""

    def get(self, name: str, sink: Callable[[bytes], None]) -> int:
        """Stream an object into ``sink``; return its size. ``ObjectMissing`` if absent."""

    def get_bytes(self, name: str) -> bytes | None:
        """A small object's bytes, or None if absent."""

    def read_versioned(self, name: str) -> tuple[bytes, str] | None:
        """An object's bytes and version tag (ETag), or None if absent."""

    def write_conditional(self, name: str, data: bytes, *, expect: str | None) -> str:
        """Replace ``name`` only if its version tag is ``expect`` (None: only if absent).

        :returns: the new version tag.
        :raises Conflict: someone else wrote it first.
        """

    def stat(self, name: str) -> ObjectInfo | None:
        """Size (and ETag) of an object, or None."""

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every complete object whose name starts with ``prefix``."""

    def list_dirs(self, prefix: str) -> list[str]:
        """The next path components below ``prefix`` (like S3's common prefixes)."""

    def delete(self, names: Iterable[str]) -> int:
        """Delete objects; return how many were deleted."""

    def abort_upload(self, name: str, upload_id: str) -> None:
        """Abort one unfinished upload recorded in the journal."""

    def abort_uploads(self, prefix: str) -> int:
        """Abort unfinished uploads under ``prefix``; return how many."""

    def close(self) -> None:
        """Release connections."""
