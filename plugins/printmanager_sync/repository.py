"""A user's repository in a container: keys, blobs, snapshots and the head.

The repository knows the format (``format.py``) and the cryptography
(``crypto.py``); the backend only moves opaque bytes.
"""

from __future__ import annotations

import concurrent.futures as cf
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from printmanager_core.settings import now_iso

from . import crypto, names, pages
from . import format as fmt
from .backends.base import Backend, SourceFile, place
from .errors import Conflict, IntegrityError, ObjectMissing, SourceChanged, SyncError, WrongPassphrase
from .snapshot import BlobRef, Head, Snapshot

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
        #: where snapshot pages read or written are kept (encrypted, as stored); None: nowhere
        self.page_cache: Path | None = None

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

    def put_blob_bytes(self, data: bytes, blob_id: str | None = None) -> tuple[str, int]:
        """Store in-memory ``data`` as a blob (``blob_id``: its id, if known); return (id, stored size)."""
        blob_id = blob_id or self.keys.object_id(data)
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

    def restore_ref(self, ref: BlobRef, dest: str | os.PathLike[str], *, workers: int = 8) -> int:
        """Write a database backup to ``dest`` atomically: its one blob, or its chunks in order,
        each verified, and the whole checked against ``ref.blob`` (the HMAC of the whole file)."""
        if not ref.chunks:
            return self.restore_blob(ref.blob, dest)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".pm-restore-{os.urandom(6).hex()}"
        sizes = ref.objects()
        whole = self.keys.hasher()
        try:
            with open(tmp, "wb") as f, cf.ThreadPoolExecutor(max(1, workers)) as pool:
                window = 4 * max(1, workers)  # chunks in memory at once
                for start in range(0, len(ref.chunks), window):
                    for blob, data in zip(ref.chunks[start : start + window],
                                          pool.map(self.read_blob_bytes, ref.chunks[start : start + window])):  # fmt: skip
                        if len(data) != sizes[blob]:
                            raise IntegrityError(f"database chunk {blob[:16]} is damaged (wrong size)")
                        whole.update(data)
                        f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if not hmac.compare_digest(whole.hexdigest(), ref.blob):
                raise IntegrityError(f"database backup {ref.blob[:16]} is damaged (its chunks do not make it up)")
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ref.size

    def list_blobs(self) -> dict[str, int]:
        """Blob id -> stored size, for every blob in the container."""
        out = {}
        for info in self.backend.list(self.prefix + fmt.DATA):
            blob_id = info.name.rsplit("/", 1)[-1]
            if fmt.is_object_id(blob_id):
                out[blob_id] = info.size
        return out

    # -- snapshots -------------------------------------------------------------

    def save_snapshot(self, snapshot: dict[str, Any], *, present: dict[str, int] | None = None) -> str:
        """Store a snapshot given as its JSON object (:meth:`Snapshot.to_json`): its pages first,
        then the manifest (write-once, named by its id); return the id.

        :param present: blobs known to be in the container (id -> stored size): pages among
            them are not uploaded again.
        The wire level: :meth:`store_snapshot` takes a typed :class:`Snapshot`."""
        manifest, page_plain = self.paginate(snapshot)
        self.put_pages(page_plain, present=present or {})
        return self.put_manifest(manifest)

    def paginate(self, snapshot: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
        """A snapshot's version-2 manifest and its pages (id -> plaintext), see ``pages.py``."""
        out: dict[str, bytes] = {}

        def paged(items: list[Any], keys: list[str], average: int) -> dict[str, Any]:
            refs = []
            for page in pages.split(items, keys, self.keys.boundary, average):
                plain = pages.encode_page(page)
                blob = self.keys.object_id(plain)
                out[blob] = plain
                refs.append({"blob": blob, "size": len(plain), "count": len(page)})
            return {"pages": refs}

        def keyed(items: list[Any], key: Callable[[Any], str], average: int) -> dict[str, Any]:
            ordered = sorted(((key(i), i) for i in items), key=lambda kv: kv[0])
            return paged([i for _, i in ordered], [k for k, _ in ordered], average)

        def database(ref: dict[str, Any] | None) -> dict[str, Any] | None:
            if not ref or not ref.get("chunks"):
                return ref
            chunks = list(ref["chunks"])
            listed = paged(chunks, [str(i) for i in range(len(chunks))], pages.AVERAGE["chunks"])
            return {**ref, "chunks": listed}

        manifest = {k: v for k, v in snapshot.items() if k != "structure"}
        manifest["version"] = fmt.SNAPSHOT_VERSION
        manifest["files"] = keyed(snapshot.get("files") or [], lambda e: f"{e.get('root')}/{e.get('rel')}",
                                  pages.AVERAGE["files"])  # fmt: skip
        manifest["thumbnails"] = keyed(snapshot.get("thumbnails") or [], lambda e: str(e.get("rel")),
                                       pages.AVERAGE["thumbnails"])  # fmt: skip
        meta = dict(snapshot.get("meta") or {})
        for part in ("files", "models"):
            items = [[k, v] for k, v in (meta.get(part) or {}).items()]
            meta[part] = keyed(items, lambda kv: str(kv[0]), pages.AVERAGE[f"meta.{part}"])
        manifest["meta"] = meta
        manifest["database"] = database(snapshot.get("database"))
        manifest["roots"] = [{**r, "database": database(r.get("database"))} if r.get("database") else r
                             for r in snapshot.get("roots") or []]  # fmt: skip
        return manifest, out

    def put_pages(self, page_plain: dict[str, bytes], *, present: dict[str, int], workers: int = 8) -> dict[str, int]:
        """Upload the pages the container lacks (``present``: id -> stored size); return the
        ones uploaded (id -> stored size). They are cached locally, encrypted."""
        todo = {b: p for b, p in page_plain.items() if present.get(b) != crypto.ciphertext_size(len(p))}

        def put(item: tuple[str, bytes]) -> tuple[str, int]:
            blob, plain = item
            stored = crypto.encrypt_bytes(self.keys, "blob", blob, plain)
            self.backend.put_bytes(self.blob_key(blob), stored)
            self._cache_page(blob, stored)
            return blob, len(stored)

        if len(todo) <= 1:
            return dict(map(put, todo.items()))
        with cf.ThreadPoolExecutor(max(1, min(workers, len(todo)))) as pool:
            return dict(pool.map(put, todo.items()))

    def put_manifest(self, manifest: dict[str, Any]) -> str:
        """Store a snapshot manifest (after its pages: a manifest never names a page the
        container lacks); return its id."""
        plain = fmt.encode_snapshot(manifest)
        snap_id = self.keys.object_id(plain)
        stored = crypto.encrypt_bytes(self.keys, "snapshot", snap_id, plain)
        self.backend.put_bytes(self.prefix + fmt.snapshot_name(snap_id), stored)
        return snap_id

    def load_snapshot(self, snapshot_id: str, *, workers: int = 8) -> dict[str, Any]:
        """A snapshot's JSON object, decrypted and verified against its id, its pages read and
        put in place (:meth:`snapshot` gives the typed record). A version-2 snapshot's object
        has its page blobs under ``structure`` (id -> plaintext size)."""
        if not fmt.is_object_id(snapshot_id):
            raise IntegrityError(f"invalid snapshot id {snapshot_id!r}")
        stored = self.backend.get_bytes(self.prefix + fmt.snapshot_name(snapshot_id))
        if stored is None:
            raise ObjectMissing(f"snapshot {snapshot_id[:16]} is not in the container")
        snap = fmt.decode_snapshot(crypto.decrypt_bytes(self.keys, "snapshot", snapshot_id, stored))
        return snap if snap.get("version") == 1 else self._expand(snap, workers)

    def _expand(self, manifest: dict[str, Any], workers: int) -> dict[str, Any]:
        """A version-2 manifest with its pages read back into lists."""
        meta = manifest.get("meta")
        if not isinstance(meta, dict):
            raise IntegrityError("snapshot is damaged (meta is not an object)")
        roots = manifest.get("roots") or []
        if not isinstance(roots, list) or not all(isinstance(r, dict) for r in roots):
            raise IntegrityError("snapshot is damaged (roots is not a list)")
        lists: dict[str, list[tuple[str, int, int]]] = {
            "files": pages.page_refs(manifest.get("files"), "files"),
            "thumbnails": pages.page_refs(manifest.get("thumbnails"), "thumbnails"),
            "meta.files": pages.page_refs(meta.get("files"), "meta.files"),
            "meta.models": pages.page_refs(meta.get("models"), "meta.models"),
        }
        databases = [manifest.get("database")] + [r.get("database") for r in roots]
        for i, ref in enumerate(databases):
            if isinstance(ref, dict) and isinstance(ref.get("chunks"), dict):
                lists[f"db{i}"] = pages.page_refs(ref["chunks"], "a database's chunks")
        wanted = {b: (n, c) for refs in lists.values() for b, n, c in refs}
        with cf.ThreadPoolExecutor(max(1, min(workers, len(wanted) or 1))) as pool:
            plain = dict(zip(wanted, pool.map(self.read_page, wanted)))
        structure: dict[str, int] = {}
        for blob, (size, count) in wanted.items():
            if len(plain[blob]) != size:
                raise IntegrityError(f"snapshot page {blob[:16]} is damaged (not the size its snapshot names)")
            structure[blob] = size

        def items(name: str) -> list[Any]:
            return [item for blob, _n, count in lists[name] for item in pages.decode_page(plain[blob], count)]

        out = dict(manifest)
        out["files"], out["thumbnails"] = items("files"), items("thumbnails")
        pairs = {part: items(f"meta.{part}") for part in ("files", "models")}
        if not all(isinstance(p, list) and len(p) == 2 for part in pairs.values() for p in part):
            raise IntegrityError("snapshot is damaged (a page of edits is not key-value pairs)")
        out["meta"] = {**meta, **{part: {str(k): v for k, v in kv} for part, kv in pairs.items()}}

        def database(i: int, db: Any) -> Any:
            if not isinstance(db, dict) or f"db{i}" not in lists:
                return db
            return {**db, "chunks": items(f"db{i}")}

        out["database"] = database(0, manifest.get("database"))
        out["roots"] = [{**r, "database": database(i + 1, r.get("database"))} for i, r in enumerate(roots)]
        out["structure"] = structure
        return out

    def read_page(self, blob_id: str) -> bytes:
        """A snapshot page's verified plaintext: from the local cache (kept encrypted, checked
        like a download) or the container."""
        cached = self._cached_page(blob_id)
        if cached is not None:
            try:
                return crypto.decrypt_bytes(self.keys, "blob", blob_id, cached)
            except IntegrityError:
                pass  # a damaged cache entry: read it from the container
        stored = self.backend.get_bytes(self.blob_key(blob_id))
        if stored is None:
            raise ObjectMissing(f"snapshot page {blob_id[:16]} is not in the container")
        plain = crypto.decrypt_bytes(self.keys, "blob", blob_id, stored)
        self._cache_page(blob_id, stored)
        return plain

    def _cached_page(self, blob_id: str) -> bytes | None:
        if self.page_cache is None:
            return None
        try:
            return (self.page_cache / blob_id).read_bytes()
        except OSError:
            return None

    def _cache_page(self, blob_id: str, stored: bytes) -> None:
        if self.page_cache is None:
            return
        try:
            self.page_cache.mkdir(parents=True, exist_ok=True)
            tmp = self.page_cache / f".tmp-{os.urandom(6).hex()}"
            tmp.write_bytes(stored)
            os.replace(tmp, self.page_cache / blob_id)
        except OSError:
            pass  # a cache: a write that fails costs a download next time

    def keep_cached(self, blob_ids: Iterable[str]) -> None:
        """Drop every cached page but ``blob_ids`` (the pages of the snapshot this device agrees with)."""
        if self.page_cache is None or not self.page_cache.is_dir():
            return
        keep = set(blob_ids)
        for path in self.page_cache.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def list_snapshots(self) -> list[str]:
        """Ids of every stored snapshot."""
        ids = [i.name.rsplit("/", 1)[-1] for i in self.backend.list(self.prefix + fmt.SNAPSHOTS)]
        return sorted(i for i in ids if fmt.is_object_id(i))

    def snapshot(self, snapshot_id: str, *, workers: int = 8) -> Snapshot:
        """A snapshot as a typed record (:meth:`load_snapshot`, then :meth:`Snapshot.from_json`)."""
        return Snapshot.from_json(self.load_snapshot(snapshot_id, workers=workers))

    def store_snapshot(self, snapshot: Snapshot) -> str:
        """Store a typed snapshot (pages, then the manifest); return its id."""
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
