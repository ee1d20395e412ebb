"""A user's repository in a container: keys, blobs, snapshots and the head.

The repository knows the format (``format.py``) and the cryptography
(``crypto.py``); the backend only moves opaque bytes.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from printmanager_core.settings import now_iso

from . import crypto, names
from . import format as fmt
from .backends.base import Backend, SourceFile, place
from .errors import Conflict, IntegrityError, ObjectMissing, SourceChanged, SyncError, WrongPassphrase
from .snapshot import Head, Snapshot

if TYPE_CHECKING:  # pragma: no cover
    from .journal import Journal


def _read_at(path: str) -> tuple[Callable[[int, int], bytes], Callable[[], None]]:
    f = open(path, "rb")

    def read_at(offset: int, length: int) -> bytes:
        f.seek(offset)
        return f.read(length)

    return read_at, f.close


class Repository:
    """One user's encrypted repository in a backend.

    Use :meth:`init` for a new one, :meth:`open` for an existing one.
    """

    def __init__(self, backend: Backend, user: str, keys: crypto.RepositoryKeys, config: dict[str, Any]):
        self.backend = backend
        self.user = user
        self.prefix = fmt.user_prefix(user)
        self.keys = keys
        self.config = config

    def __repr__(self) -> str:
        return f"Repository({place(self.backend.describe())}, user {self.user})"

    # -- creating and opening --------------------------------------------------

    @staticmethod
    def exists(backend: Backend, user: str) -> bool:
        """True if ``user`` has a repository in ``backend``."""
        return backend.stat(fmt.user_prefix(user) + fmt.CONFIG) is not None

    @staticmethod
    def users(backend: Backend) -> list[str]:
        """User ids that have a repository in ``backend``."""
        return [u for u in backend.list_dirs(fmt.USERS) if backend.stat(f"{fmt.USERS}{u}/{fmt.CONFIG}")]

    @classmethod
    def init(cls, backend: Backend, user: str, passphrase: str, *, scrypt_n: int | None = None) -> "Repository":
        """Create a repository for ``user``: a random master key wrapped by ``passphrase``."""
        prefix = fmt.user_prefix(user)
        master = os.urandom(crypto.KEY_SIZE)
        repo_id = os.urandom(16)
        keys = crypto.RepositoryKeys(master, repo_id)
        config: dict[str, Any] = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.FORMAT_VERSION,
            "repo_id": repo_id.hex(),
            "chunk_size": crypto.CHUNK_SIZE,
            "aead": crypto.ALGORITHMS[crypto.WRITE_ALG],
            "created": now_iso(),
        }
        config["mac"] = keys.config_mac(fmt.config_payload(config))
        keyfile = crypto.wrap_master_key(master, repo_id, passphrase, n=scrypt_n)
        keyfile["created"] = config["created"]
        key_name = prefix + fmt.KEYS + os.urandom(8).hex()
        backend.put_bytes(key_name, fmt.canonical_json(keyfile))
        try:
            backend.write_conditional(prefix + fmt.CONFIG, fmt.canonical_json(config), expect=None)
        except Conflict:
            backend.delete([key_name])
            raise SyncError(f"user {user!r} already has a repository in this container") from None
        return cls(backend, user, keys, config)

    @classmethod
    def open(
        cls,
        backend: Backend,
        user: str,
        passphrase: str | Callable[[], str] | None = None,
        *,
        master: bytes | None = None,
        cached: dict[str, Any] | None = None,
    ) -> "Repository":
        """Open ``user``'s repository with the cached ``master`` key or the passphrase.

        :param passphrase: the passphrase, or a callable asked only if needed.
        :param cached: ``{"config": ..., "keys": {name: keyfile}}`` read before,
            to save requests; the MAC check still applies.
        :raises WrongPassphrase: no key file opens with the passphrase.
        :raises IntegrityError: the config or a key file is damaged.
        """
        prefix = fmt.user_prefix(user)
        config = (cached or {}).get("config")
        if config is None:
            raw = backend.get_bytes(prefix + fmt.CONFIG)
            if raw is None:
                raise ObjectMissing(f"no sync repository for user {user} in {place(backend.describe())}")
            config = fmt.parse_json_object(raw, "repository config")
        if config.get("format") != fmt.FORMAT_NAME or config.get("version") != fmt.FORMAT_VERSION:
            raise IntegrityError("repository config is damaged or of an unknown format")
        try:
            repo_id = bytes.fromhex(str(config["repo_id"]))
        except (KeyError, ValueError):
            raise IntegrityError("repository config is damaged (repository id)") from None
        if master is not None:
            keys = crypto.RepositoryKeys(master, repo_id)
            if hmac.compare_digest(keys.config_mac(fmt.config_payload(config)), str(config.get("mac", ""))):
                return cls(backend, user, keys, config)
        if passphrase is None:
            raise WrongPassphrase("the sync passphrase is needed to open the repository")
        secret = passphrase() if callable(passphrase) else passphrase
        keyfiles = (cached or {}).get("keys") or cls._load_keyfiles(backend, prefix)
        if not keyfiles:
            raise ObjectMissing(f"the repository of user {user!r} has no key file")
        damaged = None
        for kf in keyfiles.values():
            try:
                master = crypto.unwrap_master_key(kf, repo_id, secret)
            except WrongPassphrase:
                continue
            except IntegrityError as exc:
                damaged = exc
                continue
            keys = crypto.RepositoryKeys(master, repo_id)
            if not hmac.compare_digest(keys.config_mac(fmt.config_payload(config)), str(config.get("mac", ""))):
                raise IntegrityError("repository config is damaged (MAC mismatch)")
            return cls(backend, user, keys, config)
        if damaged is not None:
            raise WrongPassphrase(f"wrong passphrase, or a damaged key file ({damaged})")
        raise WrongPassphrase("wrong passphrase (or a damaged key file)")

    @staticmethod
    def _load_keyfiles(backend: Backend, prefix: str) -> dict[str, dict[str, Any]]:
        out = {}
        for info in backend.list(prefix + fmt.KEYS):
            raw = backend.get_bytes(info.name)
            if raw is None:
                continue
            try:
                out[info.name] = fmt.parse_json_object(raw, "key file")
            except IntegrityError:
                out[info.name] = {}
        return out

    def cache_blob(self) -> dict[str, Any]:
        """The config and key files, to be cached locally (no secrets: key files are wrapped)."""
        return {"config": self.config, "keys": self._load_keyfiles(self.backend, self.prefix)}

    def add_passphrase(self, passphrase: str, *, scrypt_n: int | None = None) -> str:
        """Add a key file for another passphrase; return its name."""
        keyfile = crypto.wrap_master_key(self.keys.master, self.keys.repo_id, passphrase, n=scrypt_n)
        keyfile["created"] = now_iso()
        name = self.prefix + fmt.KEYS + os.urandom(8).hex()
        self.backend.put_bytes(name, fmt.canonical_json(keyfile))
        return name

    # -- blobs -----------------------------------------------------------------

    def blob_key(self, blob_id: str) -> str:
        """The backend name of blob ``blob_id``."""
        return self.prefix + fmt.blob_name(blob_id)

    def file_id(self, path: str | os.PathLike[str]) -> str:
        """The blob id a file's content would have."""
        return self.keys.file_id(path)

    def put_file(
        self, path: str, blob_id: str, size: int, mtime_ns: int, *, journal: "Journal | None" = None
    ) -> int:
        """Encrypt and store a file as blob ``blob_id``; return the stored size.

        A resumable upload of the same file reuses its salt so its parts line up — only after
        the file's content is hashed again and still gives ``blob_id``: the same salt over
        other content would encrypt two plaintexts under one key and nonce (docs/sync.md,
        "Resuming an upload"). Content that changed under an unchanged size and mtime raises
        :class:`SourceChanged` before anything is sent.
        """
        name = self.blob_key(blob_id)
        salt = None
        if journal is not None:
            record = journal.find(name)
            if record is not None and record.same_source(path, size, mtime_ns):
                if not hmac.compare_digest(self.file_id(path), blob_id):
                    raise SourceChanged(
                        "changed since its interrupted upload (same size and modification time, other "
                        "content); not resumed, it is read again next time"
                    )
                salt = record.salt
        read_at, close = _read_at(path)
        try:
            enc = crypto.ObjectEncryptor(self.keys, "blob", blob_id, size, read_at, salt=salt)
            self.backend.put(name, enc, journal=journal, origin=SourceFile(path, size, mtime_ns))
            return enc.size
        finally:
            close()

    def put_blob_bytes(self, data: bytes) -> tuple[str, int]:
        """Store in-memory ``data`` as a blob; return (id, stored size)."""
        blob_id = self.keys.object_id(data)
        stored = crypto.encrypt_bytes(self.keys, "blob", blob_id, data)
        self.backend.put_bytes(self.blob_key(blob_id), stored)
        return blob_id, len(stored)

    def read_blob(self, blob_id: str, sink: Callable[[bytes], None]) -> int:
        """Download, decrypt and verify a blob into ``sink``; return its plaintext size.

        ``sink`` may have received data before an :class:`IntegrityError` is raised:
        write to a temporary file and keep it only when this returns.
        """
        dec = crypto.ObjectDecryptor(self.keys, "blob", blob_id)

        def feed(data: bytes) -> None:
            out = dec.feed(data)
            if out:
                sink(out)

        self.backend.get(self.blob_key(blob_id), feed)
        tail = dec.finish()
        if tail:
            sink(tail)
        return dec.plaintext_bytes

    def read_blob_bytes(self, blob_id: str) -> bytes:
        """A (small) blob's verified plaintext."""
        parts: list[bytes] = []
        self.read_blob(blob_id, parts.append)
        return b"".join(parts)

    def restore_blob(
        self, blob_id: str, dest: str | os.PathLike[str], *, mtime_ns: int | None = None, replace: bool = True
    ) -> int:
        """Write a verified blob to ``dest`` atomically (temp file, then rename); return its size.

        :param replace: False: never replace a file (:class:`~printmanager_sync.names.NameTaken`
            if one of that name exists, as the folder compares names).
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".pm-restore-{os.urandom(6).hex()}"  # short: a long name still fits
        try:
            with open(tmp, "wb") as f:
                size = self.read_blob(blob_id, f.write)
                f.flush()
                os.fsync(f.fileno())
            if mtime_ns is not None:
                os.utime(tmp, ns=(mtime_ns, mtime_ns))
            if replace:
                os.replace(tmp, dest)
            else:
                names.write_new(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size

    def list_blobs(self) -> dict[str, int]:
        """Blob id -> stored size, for every blob in the container."""
        out = {}
        for info in self.backend.list(self.prefix + fmt.DATA):
            blob_id = info.name.rsplit("/", 1)[-1]
            if fmt.is_object_id(blob_id):
                out[blob_id] = info.size
        return out

    # -- snapshots -------------------------------------------------------------

    def save_snapshot(self, snapshot: dict[str, Any]) -> str:
        """Store a snapshot given as its JSON object (write-once, named by its id); return the id.

        The wire level: :meth:`store_snapshot` takes a typed :class:`Snapshot`."""
        plain = fmt.encode_snapshot(snapshot)
        snap_id = self.keys.object_id(plain)
        stored = crypto.encrypt_bytes(self.keys, "snapshot", snap_id, plain)
        self.backend.put_bytes(self.prefix + fmt.snapshot_name(snap_id), stored)
        return snap_id

    def load_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        """A snapshot's JSON object, decrypted and verified against its id (:meth:`snapshot`
        gives the typed record)."""
        if not fmt.is_object_id(snapshot_id):
            raise IntegrityError(f"invalid snapshot id {snapshot_id!r}")
        stored = self.backend.get_bytes(self.prefix + fmt.snapshot_name(snapshot_id))
        if stored is None:
            raise ObjectMissing(f"snapshot {snapshot_id[:16]} is not in the container")
        return fmt.decode_snapshot(crypto.decrypt_bytes(self.keys, "snapshot", snapshot_id, stored))

    def list_snapshots(self) -> list[str]:
        """Ids of every stored snapshot."""
        ids = [i.name.rsplit("/", 1)[-1] for i in self.backend.list(self.prefix + fmt.SNAPSHOTS)]
        return sorted(i for i in ids if fmt.is_object_id(i))

    def snapshot(self, snapshot_id: str) -> Snapshot:
        """A snapshot as a typed record (:meth:`load_snapshot`, then :meth:`Snapshot.from_json`)."""
        return Snapshot.from_json(self.load_snapshot(snapshot_id))

    def store_snapshot(self, snapshot: Snapshot) -> str:
        """Store a typed snapshot; return its id."""
        return self.save_snapshot(snapshot.to_json())

    # -- head ----------------------------------------------------------------------

    def head(self) -> tuple[Head | None, str | None]:
        """The head as a typed record (or None) and its version tag (:meth:`read_head`)."""
        raw, tag = self.read_head()
        return (None if raw is None else Head.from_json(raw)), tag

    def read_head(self) -> tuple[dict[str, Any] | None, str | None]:
        """The head pointer (or None) and its version tag (for :meth:`write_head`)."""
        got = self.backend.read_versioned(self.prefix + fmt.HEAD)
        if got is None:
            return None, None
        stored, tag = got
        head = fmt.decode_head(crypto.decrypt_bytes(self.keys, "head", fmt.HEAD, stored, verify_id=False))
        return head, tag

    def write_head(self, snapshot_id: str, seq: int, device: str, *, expect: str | None) -> str:
        """Point the head at ``snapshot_id`` if it is still at version ``expect``.

        :raises Conflict: another device moved the head first.
        """
        plain = fmt.encode_head(snapshot_id, seq, device, now_iso())
        stored = crypto.encrypt_bytes(self.keys, "head", fmt.HEAD, plain)
        return self.backend.write_conditional(self.prefix + fmt.HEAD, stored, expect=expect)

    # -- everything --------------------------------------------------------------

    def objects(self) -> Iterator[str]:
        """Names of every object of this user."""
        for info in self.backend.list(self.prefix):
            yield info.name


def delete_user_objects(backend: Backend, user: str) -> int:
    """Delete every object under ``user``'s prefix (and unfinished uploads); return the count.

    Needs no key: deletion must work even when the passphrase is lost.
    """
    prefix = fmt.user_prefix(user)
    backend.abort_uploads(prefix)
    names = [info.name for info in backend.list(prefix)]
    # The head and config go last, so an interrupted deletion still looks like a repository.
    last = {prefix + fmt.HEAD, prefix + fmt.CONFIG}
    count = backend.delete([n for n in names if n not in last])
    count += backend.delete([n for n in names if n in last])
    return count
