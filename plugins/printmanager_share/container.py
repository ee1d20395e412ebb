"""Where bundles live: the user's container (a sync backend: S3 or folder) under ``shares/``.

Layout (``docs/sharing.md``, "Bundle format")::

    shares/<share-id>/manifest.age     the signed manifest
    shares/<share-id>/f/<n>.age        file n
    shares/<share-id>/t/<n>.age        thumbnail n
    shares/tokens/<sha256 hex>.json    a link's control record (what the gateway checks)
    shares/log/<share-id>/<entry>.age  access-log entries, encrypted to the sharer's log key

With short-lived credentials scoped to the user's prefix (``"credentials": "account"``,
``docs/account.md#scoped-storage-credentials``) the same layout lives under that prefix
(``users/<id>/shares/...``): the container's ``prefix``.

Nothing here names a file, a path or a recipient; tokens appear only as hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

import attrs

from .errors import ShareError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_sync.storage_credentials import TemporaryCredentials

PREFIX = "shares/"
TOKENS = PREFIX + "tokens/"
LOGS = PREFIX + "log/"
#: how long a presigned GET the gateway redirects to stays valid
PRESIGN_SECONDS = 60
_CHUNK = 1 << 20


def token_ref(token: str) -> str:
    """The name a token is known by in the container: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_share_id(share_id: str) -> str:
    """A share id is 32 lowercase hex digits."""
    if len(share_id) != 32 or any(c not in "0123456789abcdef" for c in share_id):
        raise ShareError(f"{share_id!r} is not a share id")
    return share_id


def manifest_name(share_id: str) -> str:
    """The manifest object of a share."""
    return f"{PREFIX}{check_share_id(share_id)}/manifest.age"


def file_name(share_id: str, n: int) -> str:
    """File ``n`` of a share."""
    return f"{PREFIX}{check_share_id(share_id)}/f/{int(n)}.age"


def thumbnail_name(share_id: str, n: int) -> str:
    """Thumbnail ``n`` of a share."""
    return f"{PREFIX}{check_share_id(share_id)}/t/{int(n)}.age"


def token_name(ref: str) -> str:
    """A link's control record."""
    if len(ref) != 64 or any(c not in "0123456789abcdef" for c in ref):
        raise ShareError("not a token reference")
    return f"{TOKENS}{ref}.json"


@attrs.define
class TempUpload:
    """An encrypted temp file as a backend's upload source (streamed, multipart when large)."""

    path: Path
    size: int
    salt: bytes = b""

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from ``start`` to ``end``, in chunks."""
        end = self.size if end is None else end
        with open(self.path, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                data = f.read(min(_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data

    def read_range(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end``."""
        return b"".join(self.iter_range(start, end))

    def verify_source(self) -> None:
        """The temp file is ours alone: nothing to check."""


class ShareContainer:
    """The ``shares/`` part of one container (a sync backend).

    :param prefix: where ``shares/`` lives in the container (``""``: at its root;
        ``"users/<id>/"`` with credentials scoped to that prefix). Names given to and
        returned by the methods are relative to it.
    """

    def __init__(self, backend: Any, *, presign_seconds: int = PRESIGN_SECONDS, prefix: str = ""):
        self.backend = backend
        self.presign_seconds = presign_seconds
        self.prefix = check_prefix(prefix)

    def _full(self, name: str) -> str:
        return self.prefix + name

    # -- bundles ---------------------------------------------------------------

    def put_encrypted(self, name: str, reader: BinaryIO, recipients: list[Any], tmp_dir: Path) -> int:
        """Encrypt ``reader`` (age, to ``recipients``) into a temp file, then store it; its stored size."""
        import pyrage

        fd, tmp = tempfile.mkstemp(prefix=".share-", suffix=".age", dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                pyrage.encrypt_io(reader, out, recipients)
            size = os.path.getsize(tmp)
            self.backend.put(self._full(name), TempUpload(Path(tmp), size, os.urandom(16)))
            return size
        finally:
            os.unlink(tmp)

    def put_bytes_encrypted(self, name: str, data: bytes, recipients: list[Any]) -> int:
        """Encrypt a small object in memory and store it; its stored size."""
        import pyrage

        blob = pyrage.encrypt(data, recipients)
        self.backend.put_bytes(self._full(name), blob)
        return len(blob)

    def delete_bundle(self, share_id: str) -> int:
        """Delete every object of a share (bundle and its pending log entries); how many."""
        prefixes = (self._full(f"{PREFIX}{check_share_id(share_id)}/"), self._full(f"{LOGS}{share_id}/"))
        names = [info.name for prefix in prefixes for info in self.backend.list(prefix)]
        self.backend.abort_uploads(prefixes[0])
        return int(self.backend.delete(names)) if names else 0

    def bundle_objects(self, share_id: str) -> list[str]:
        """Names of a share's stored objects."""
        return [info.name[len(self.prefix):]
                for info in self.backend.list(self._full(f"{PREFIX}{check_share_id(share_id)}/"))]

    # -- control records ---------------------------------------------------------

    def write_token(self, ref: str, record: dict[str, Any]) -> None:
        """Store a link's control record."""
        self.backend.put_bytes(self._full(token_name(ref)), json.dumps(record, sort_keys=True).encode())

    def read_token(self, ref: str) -> tuple[dict[str, Any], str] | None:
        """A link's control record and its version tag, or None."""
        got = self.backend.read_versioned(self._full(token_name(ref)))
        if got is None:
            return None
        data, tag = got
        try:
            record = json.loads(data)
        except ValueError:
            return None
        return (record, tag) if isinstance(record, dict) else None

    def update_token(self, ref: str, change: Callable[[dict[str, Any]], dict[str, Any] | None],
                     attempts: int = 8) -> dict[str, Any] | None:
        """Change a control record by compare-and-swap; ``change`` returns the new record (None: leave it).

        :returns: the record as stored afterwards (None if absent).
        """
        from printmanager_sync.errors import Conflict

        for _ in range(attempts):
            got = self.read_token(ref)
            if got is None:
                return None
            record, tag = got
            new = change(dict(record))
            if new is None:
                return record
            try:
                self.backend.write_conditional(self._full(token_name(ref)), json.dumps(new, sort_keys=True).encode(),
                                               expect=tag)
                return new
            except Conflict:
                continue
        raise ShareError("the link's record kept changing; try again")

    def tombstone(self, ref: str, at: str, *, keep_log: bool = False) -> None:
        """Replace a link's control record by ``{"v": 1, "revoked_at": at}`` (the gateway answers 410);
        ``keep_log``: keep the share id and log key, so refused uses are still logged for the sharer."""
        record: dict[str, Any] = {"v": 1, "revoked_at": at}
        got = self.read_token(ref) if keep_log else None
        if got is not None:
            record.update({k: got[0][k] for k in ("share", "log_recipient", "log_ip") if k in got[0]})
        self.write_token(ref, record)

    def delete_tokens(self, refs: list[str]) -> int:
        """Delete control records (tombstones included)."""
        return int(self.backend.delete([self._full(token_name(r)) for r in refs])) if refs else 0

    # -- the access log -----------------------------------------------------------

    def append_log(self, share_id: str, entry: dict[str, Any], log_recipient: str, at: str) -> None:
        """Store one access-log entry, encrypted to the sharer's log key."""
        import pyrage

        stamp = "".join(c for c in at if c.isdigit())[:20]
        name = f"{LOGS}{check_share_id(share_id)}/{stamp}-{os.urandom(6).hex()}.age"
        recipient = pyrage.x25519.Recipient.from_str(log_recipient)
        self.backend.put_bytes(self._full(name), pyrage.encrypt(json.dumps(entry).encode(), [recipient]))

    def take_log(self, share_id: str, identity: str) -> list[dict[str, Any]]:
        """Read, decrypt and delete a share's pending log entries (oldest first)."""
        import pyrage

        ident = pyrage.x25519.Identity.from_str(identity)
        names = sorted(info.name for info in self.backend.list(self._full(f"{LOGS}{check_share_id(share_id)}/")))
        entries = []
        for name in names:
            data = self.backend.get_bytes(name)
            if data is None:
                continue
            try:
                entries.append(json.loads(pyrage.decrypt(data, [ident])))
            except Exception:  # not ours (someone wrote into the container): dropped, not trusted
                continue
        if names:
            self.backend.delete(names)
        return entries

    # -- reading for the gateway -----------------------------------------------------

    def presigned_url(self, name: str) -> str | None:
        """A short-lived GET URL for ``name`` (S3), or None (a folder has none)."""
        client = getattr(self.backend, "client", None)
        if client is None or not hasattr(client, "presign"):
            return None
        return str(client.presign("GET", self._full(name), expires=self.presign_seconds))

    def size(self, name: str) -> int | None:
        """The stored size of an object, or None if absent."""
        info = self.backend.stat(self._full(name))
        return None if info is None else int(info.size)

    def local_path(self, name: str) -> Path | None:
        """The file of an object in a folder container (None for other backends)."""
        root = getattr(self.backend, "root", None)
        if root is None:
            return None
        path = Path(root).joinpath(*self._full(name).split("/"))
        return path if path.is_file() else None

    def stream(self, name: str) -> Iterator[bytes]:
        """An object's bytes in chunks, streamed from the backend (folder: read from disk)."""
        path = self.local_path(name)
        if path is not None:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk
            return
        import queue
        import threading

        pipe: "queue.Queue[bytes | BaseException | None]" = queue.Queue(maxsize=8)  # a few MiB in flight at most

        def pump() -> None:
            try:
                self.backend.get(self._full(name), lambda chunk: pipe.put(chunk, timeout=60))  # a gone client: gives up
                pipe.put(None)
            except BaseException as exc:  # handed to the reader, which raises it
                pipe.put(exc)

        threading.Thread(target=pump, daemon=True, name="share-stream").start()
        while True:
            item = pipe.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise ShareError(f"object could not be read: {item}") from item
            yield item

    def close(self) -> None:
        """Release the backend's connections."""
        self.backend.close()


def build_backend(config: dict[str, Any], library: "Library | None") -> Any:
    """A sync backend for ``config`` (``{"backend": "s3"|"folder", ...}``) — sync's own consent is not
    asked: sharing has its own (:mod:`.consent`). With ``"credentials": NAME`` the s3 backend signs
    with short-lived credentials from that source, refreshed before they expire (sync's
    :mod:`printmanager_sync.storage_credentials`)."""
    from printmanager_sync.backends import backend_registry

    name = str(config.get("backend") or "")
    registry = backend_registry()
    if name not in registry:
        raise ShareError(f"unknown share backend {name!r} (known: {', '.join(registry.names()) or 'none'})")
    return registry.get(name)(config, library)


def check_prefix(prefix: str) -> str:
    """A container prefix is ``""`` or ``segment/.../`` (no leading ``/``, no ``.`` or ``..``)."""
    if not prefix:
        return ""
    parts = prefix.split("/")
    if not prefix.endswith("/") or any(p in ("", ".", "..") for p in parts[:-1]):
        raise ShareError(f"{prefix!r} is not a container prefix (like users/<id>/)")
    return prefix


def credential_scope(backend: Any) -> "TemporaryCredentials | None":
    """What the short-lived credentials of an s3 backend are scoped to (None: static keys, a folder)."""
    from printmanager_sync.storage_credentials import RefreshingCredentials

    creds = getattr(getattr(backend, "client", None), "credentials", None)
    return creds.first if isinstance(creds, RefreshingCredentials) else None


def container_prefix(config: dict[str, Any], backend: Any) -> str:
    """Where ``shares/`` lives: the recorded ``prefix``, else the prefix scoped credentials are
    limited to (a recorded prefix the credentials no longer cover is refused, never followed)."""
    recorded = check_prefix(str(config.get("prefix") or ""))
    scope = credential_scope(backend) if config.get("credentials") else None
    given = check_prefix(scope.prefix or "") if scope is not None else ""
    if recorded and given and recorded != given:
        raise ShareError(f"the storage credentials are now scoped to {given}, not {recorded} as recorded when "
                         "sharing was enabled; run `printmanager share enable` again")
    return recorded or given


def open_container(config: dict[str, Any], library: "Library | None" = None) -> ShareContainer:
    """The ``shares/`` part of the container ``config`` points at (under its prefix, if any)."""
    backend = build_backend(config, library)
    try:
        prefix = container_prefix(config, backend)
    except BaseException:
        backend.close()
        raise
    seconds = int(config.get("presign_seconds", PRESIGN_SECONDS))
    if credential_scope(backend) is not None:
        from printmanager_sync.storage_credentials import MANDATORY_REFRESH

        # a set in use always has this long left (else it is renewed first): no URL outlives its credentials
        seconds = min(seconds, MANDATORY_REFRESH)
    return ShareContainer(backend, presign_seconds=seconds, prefix=prefix)
