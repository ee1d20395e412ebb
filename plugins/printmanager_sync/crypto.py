"""Cryptography of the sync container. Everything here comes from ``cryptography``.

* A random 32-byte **master key** per repository, wrapped under the passphrase
  by the shared key-wrap (``printmanager_vault.keywrap``: scrypt, then
  ChaCha20-Poly1305) and stored in the container as a key file.
* Sub-keys derived with HKDF-SHA256 (salt = repository id): one for object ids
  (HMAC-SHA256 of the plaintext), one for the config MAC, and a fresh key per
  stored object (salt = 16 random bytes in the object header, info names the
  object's kind and id).
* Object contents in age-style STREAM chunks: 64 KiB of plaintext per chunk,
  ChaCha20-Poly1305 (objects with AES-256-GCM, allowed by early version 1
  writers, are still read), nonce = 11-byte big-endian chunk counter
  followed by a last-chunk flag byte, associated data = header || object id.
  Truncating, extending, reordering or swapping objects fails authentication.

The exact byte layout is specified in ``docs/sync.md``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from typing import Any, Callable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from printmanager_vault import keywrap

from .errors import IntegrityError, SourceChanged, WrongPassphrase

#: plaintext bytes per STREAM chunk
CHUNK_SIZE = 64 * 1024
#: AEAD tag bytes appended to each chunk
TAG_SIZE = 16
KEY_SIZE = 32
SALT_SIZE = 16

#: AEAD algorithm codes in object headers. One cipher is written, as in age: ChaCha20-Poly1305.
#: Code 2 (AES-256-GCM) was allowed for version 1 writers; objects that use it are still read.
ALG_CHACHA20_POLY1305 = 1
ALG_AES_256_GCM = 2
ALGORITHMS = {ALG_CHACHA20_POLY1305: "chacha20-poly1305", ALG_AES_256_GCM: "aes-256-gcm"}
#: the algorithm of every object written
WRITE_ALG = ALG_CHACHA20_POLY1305

#: object kinds: the header byte and the word used in key derivation
KINDS = {"blob": 1, "snapshot": 2, "head": 3}
KIND_NAMES = {v: k for k, v in KINDS.items()}

MAGIC = b"PMSYNC"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">6sBBBB16s")  # magic, version, kind, alg, log2(chunk), salt
HEADER_SIZE = _HEADER.size  # 26

#: scrypt cost for new key files (the cost is stored in each key file)
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1

_INFO = b"printmanager-sync/v1 "


def b64(data: bytes) -> str:
    """Standard base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes of standard base64 ``text`` (strict)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def hkdf(key: bytes, salt: bytes, info: bytes, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256 of ``key`` (RFC 5869) with ``salt`` and ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


def make_aead(alg: int, key: bytes) -> Any:
    """The AEAD object for algorithm code ``alg`` under ``key`` (reading accepts both codes)."""
    if alg == ALG_CHACHA20_POLY1305:
        return ChaCha20Poly1305(key)
    if alg == ALG_AES_256_GCM:
        return AESGCM(key)
    raise IntegrityError(f"unknown encryption algorithm code {alg}")


def chunk_nonce(index: int, last: bool) -> bytes:
    """STREAM nonce: 11-byte big-endian counter, then 0x01 for the last chunk else 0x00."""
    if index >= 1 << 88:
        raise ValueError("object too large")
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def chunk_count(plaintext_size: int) -> int:
    """Chunks a plaintext of this size is cut into (an empty plaintext is one empty chunk)."""
    return max(1, -(-plaintext_size // CHUNK_SIZE))


def ciphertext_size(plaintext_size: int) -> int:
    """Size of the stored object holding ``plaintext_size`` bytes."""
    return HEADER_SIZE + plaintext_size + TAG_SIZE * chunk_count(plaintext_size)


def plaintext_size(stored_size: int) -> int | None:
    """Inverse of :func:`ciphertext_size`; None if no plaintext size gives ``stored_size``."""
    body = stored_size - HEADER_SIZE
    if body < TAG_SIZE:
        return None
    chunks = -(-body // (CHUNK_SIZE + TAG_SIZE))
    size = body - TAG_SIZE * chunks
    if size < 0 or chunk_count(size) != chunks:
        return None
    return size


def pack_header(kind: str, alg: int, salt: bytes) -> bytes:
    """The 26-byte object header."""
    return _HEADER.pack(MAGIC, FORMAT_VERSION, KINDS[kind], alg, CHUNK_SIZE.bit_length() - 1, salt)


def unpack_header(header: bytes, kind: str) -> tuple[int, bytes]:
    """Check an object header for ``kind``; return (algorithm code, salt)."""
    if len(header) != HEADER_SIZE:
        raise IntegrityError("object is shorter than its header")
    magic, version, kind_code, alg, log2, salt = _HEADER.unpack(header)
    if magic != MAGIC:
        raise IntegrityError("object header is damaged (bad magic)")
    if version != FORMAT_VERSION:
        raise IntegrityError(f"object format version {version} is not supported")
    if kind_code != KINDS[kind]:
        raise IntegrityError(f"object is a {KIND_NAMES.get(kind_code, '?')}, expected a {kind}")
    if log2 != CHUNK_SIZE.bit_length() - 1:
        raise IntegrityError("object header is damaged (chunk size)")
    if alg not in ALGORITHMS:
        raise IntegrityError(f"unknown encryption algorithm code {alg}")
    return alg, salt


class RepositoryKeys:
    """The keys of one repository, derived from its master key.

    :param master: the 32-byte master key.
    :param repo_id: the repository id (bytes), the HKDF salt of the sub-keys.
    """

    def __init__(self, master: bytes, repo_id: bytes):
        if len(master) != KEY_SIZE:
            raise ValueError("the master key must be 32 bytes")
        self._master = master
        self.repo_id = repo_id
        self._id_key = hkdf(master, repo_id, _INFO + b"object-id")
        self._config_key = hkdf(master, repo_id, _INFO + b"config-mac")
        self._boundary_key = hkdf(master, repo_id, _INFO + b"page-boundary")

    def __repr__(self) -> str:
        return f"RepositoryKeys(repo_id={self.repo_id.hex()})"

    @property
    def master(self) -> bytes:
        """The master key (for the vault cache)."""
        return self._master

    def hasher(self) -> "hmac.HMAC":
        """A fresh HMAC-SHA256 under the object-id key."""
        return hmac.new(self._id_key, digestmod=hashlib.sha256)

    def object_id(self, data: bytes) -> str:
        """The id of an object with plaintext ``data``: hex HMAC-SHA256 under the id key."""
        return hmac.new(self._id_key, data, hashlib.sha256).hexdigest()

    def boundary(self, key: str) -> int:
        """Where a snapshot page may end (``pages.split``): the first 8 bytes of
        HMAC-SHA256(boundary key, ``key`` as UTF-8, lone surrogates kept) as a number. The key
        never leaves this device, so page boundaries say nothing of the names inside."""
        digest = hmac.new(self._boundary_key, key.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big")

    def file_id(self, path: str | os.PathLike[str], block: int = 1 << 20) -> str:
        """The object id of a file's content, read in blocks."""
        h = self.hasher()
        with open(path, "rb") as f:
            while True:
                data = f.read(block)
                if not data:
                    break
                h.update(data)
        return h.hexdigest()

    def object_key(self, salt: bytes, kind: str, object_id: str) -> bytes:
        """The per-object key: HKDF(master, salt, "…object|<kind>|<id>")."""
        return hkdf(self._master, salt, _INFO + b"object|" + kind.encode() + b"|" + object_id.encode())

    def config_mac(self, payload: bytes) -> str:
        """Hex HMAC-SHA256 of the config's canonical bytes under the config key."""
        return hmac.new(self._config_key, payload, hashlib.sha256).hexdigest()


# -- key files --------------------------------------------------------------


def _keyfile_ad(repo_id: bytes) -> bytes:
    return _INFO + b"key-file|" + repo_id.hex().encode()


def wrap_master_key(master: bytes, repo_id: bytes, passphrase: str, *, n: int | None = None) -> dict[str, Any]:
    """A key file: ``master`` wrapped under ``passphrase`` by the shared key-wrap
    (``printmanager_vault.keywrap``: scrypt, then ChaCha20-Poly1305), bound to the repository.

    :param n: the scrypt cost (default :data:`SCRYPT_N`); stored in the key file.
    """
    if not passphrase:
        raise WrongPassphrase("the passphrase must not be empty")
    w = keywrap.wrap(master, passphrase, ad=_keyfile_ad(repo_id), cost=keywrap.ScryptCost(n or SCRYPT_N, SCRYPT_R, SCRYPT_P))
    return {
        "version": 1,
        "kdf": "scrypt",
        "scrypt": {"n": w.cost.n, "r": w.cost.r, "p": w.cost.p, "salt": b64(w.salt)},
        "aead": keywrap.AEAD,
        "nonce": b64(w.nonce),
        "wrapped": b64(w.wrapped),
    }


def unwrap_master_key(keyfile: dict[str, Any], repo_id: bytes, passphrase: str) -> bytes:
    """The master key from a key file; :class:`WrongPassphrase` if it does not open."""
    try:
        params = keyfile["scrypt"]
        if keyfile.get("kdf") != "scrypt" or keyfile.get("aead") != keywrap.AEAD:
            raise ValueError("unknown algorithms")
        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        if not (2**10 <= n <= 2**22):
            raise ValueError("scrypt cost out of range")
        wrapped = keywrap.WrappedKey.from_fields(
            {"n": n, "r": r, "p": p}, unb64(params["salt"]), unb64(keyfile["nonce"]), unb64(keyfile["wrapped"])
        )
    except (KeyError, TypeError, ValueError, keywrap.DamagedWrap) as exc:
        raise IntegrityError(f"key file is damaged ({exc})") from None
    try:
        master = keywrap.unwrap(wrapped, passphrase, ad=_keyfile_ad(repo_id))
    except keywrap.WrongSecret:
        raise WrongPassphrase("wrong passphrase (or a damaged key file)") from None
    if len(master) != KEY_SIZE:
        raise IntegrityError("key file is damaged (key length)")
    return master


# -- objects ------------------------------------------------------------------


class ObjectEncryptor:
    """Encrypts one object lazily: any byte range of the stored object on demand.

    The stored object's layout is fixed by its plaintext size, so a range (a
    multipart part, a resumed part) can be produced without the rest. The
    plaintext comes from ``read_at(offset, length)``.

    While chunks are encrypted in order, the plaintext's HMAC is computed on the
    way; :meth:`verify_source` checks it against the object id before the object
    is committed, so content that changed during the upload is never stored
    under the old id.

    :param salt: reuse a salt (a resumed upload); default random.
    """

    def __init__(
        self,
        keys: RepositoryKeys,
        kind: str,
        object_id: str,
        size: int,
        read_at: Callable[[int, int], bytes],
        *,
        salt: bytes | None = None,
    ):
        self.keys = keys
        self.kind = kind
        self.object_id = object_id
        self.plaintext_size = size
        self.salt = salt if salt is not None else os.urandom(SALT_SIZE)
        if len(self.salt) != SALT_SIZE:
            raise ValueError("salt must be 16 bytes")
        self.header = pack_header(kind, WRITE_ALG, self.salt)
        self._aead = ChaCha20Poly1305(keys.object_key(self.salt, kind, object_id))
        self._ad = self.header + object_id.encode("ascii")
        self._read_at = read_at
        self.chunks = chunk_count(size)
        self.size = ciphertext_size(size)
        self._hash = keys.hasher()
        self._hashed = 0
        self._cache: tuple[int, bytes] | None = None

    def encrypt_chunk(self, index: int) -> bytes:
        """The stored bytes of chunk ``index`` (ciphertext and tag)."""
        if self._cache and self._cache[0] == index:
            return self._cache[1]
        start = index * CHUNK_SIZE
        length = min(CHUNK_SIZE, self.plaintext_size - start)
        data = self._read_at(start, length) if length > 0 else b""
        if len(data) != max(length, 0):
            raise SourceChanged("a file got shorter while it was being uploaded")
        if start == self._hashed:
            self._hash.update(data)
            self._hashed += len(data)
        out = self._aead.encrypt(chunk_nonce(index, index == self.chunks - 1), data, self._ad)
        self._cache = (index, out)
        return out

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the stored object's bytes ``[start, end)`` in pieces of at most one chunk."""
        end = self.size if end is None else min(end, self.size)
        pos = start
        if pos < HEADER_SIZE and pos < end:
            stop = min(HEADER_SIZE, end)
            yield self.header[pos:stop]
            pos = stop
        step = CHUNK_SIZE + TAG_SIZE
        while pos < end:
            index, offset = divmod(pos - HEADER_SIZE, step)
            chunk = self.encrypt_chunk(index)
            piece = chunk[offset : offset + (end - pos)]
            yield piece
            pos += len(piece)

    def read_range(self, start: int, end: int) -> bytes:
        """The stored object's bytes ``[start, end)``."""
        return b"".join(self.iter_range(start, end))

    def verify_source(self) -> None:
        """Check the plaintext still hashes to the object id; :class:`SourceChanged` if not."""
        if self._hashed != self.plaintext_size:
            h = self.keys.hasher()
            pos = 0
            while pos < self.plaintext_size:
                data = self._read_at(pos, min(1 << 20, self.plaintext_size - pos))
                if not data:
                    raise SourceChanged("a file got shorter while it was being uploaded")
                h.update(data)
                pos += len(data)
            digest = h.hexdigest()
        else:
            digest = self._hash.hexdigest()
        if not hmac.compare_digest(digest, self.object_id):
            raise SourceChanged("a file changed while it was being uploaded")


class ObjectDecryptor:
    """Decrypts one stored object fed in pieces, in order.

    :param verify_id: also check the plaintext's HMAC equals ``object_id`` (blobs
        and snapshots; not the head, whose id is its name).
    """

    def __init__(self, keys: RepositoryKeys, kind: str, object_id: str, *, verify_id: bool = True):
        self.keys = keys
        self.kind = kind
        self.object_id = object_id
        self._verify = verify_id
        self._hash = keys.hasher() if verify_id else None
        self._buf = bytearray()
        self._aead: Any = None
        self._ad = b""
        self._index = 0
        self._done = False
        self.plaintext_bytes = 0

    def _start(self) -> None:
        header = bytes(self._buf[:HEADER_SIZE])
        del self._buf[:HEADER_SIZE]
        alg, salt = unpack_header(header, self.kind)
        self._aead = make_aead(alg, self.keys.object_key(salt, self.kind, self.object_id))
        self._ad = header + self.object_id.encode("ascii")

    def _open(self, data: bytes, last: bool) -> bytes:
        try:
            out = self._aead.decrypt(chunk_nonce(self._index, last), data, self._ad)
        except InvalidTag:
            raise IntegrityError(
                f"{self.kind} {self.object_id[:16]}: chunk {self._index} failed authentication "
                "(damaged, truncated or swapped object)"
            ) from None
        self._index += 1
        if self._hash is not None:
            self._hash.update(out)
        self.plaintext_bytes += len(out)
        return out

    def feed(self, data: bytes) -> bytes:
        """Add stored bytes; return the plaintext that can be released so far."""
        if self._done:
            raise IntegrityError(f"{self.kind} {self.object_id[:16]}: data after the last chunk")
        self._buf += data
        if self._aead is None:
            if len(self._buf) < HEADER_SIZE:
                return b""
            self._start()
        step = CHUNK_SIZE + TAG_SIZE
        out = []
        # A full chunk is released only once more bytes follow: until then it may be the last.
        while len(self._buf) > step:
            out.append(self._open(bytes(self._buf[:step]), last=False))
            del self._buf[:step]
        return b"".join(out)

    def finish(self) -> bytes:
        """The remaining plaintext; raises :class:`IntegrityError` if the object is incomplete or wrong."""
        if self._aead is None:
            raise IntegrityError(f"{self.kind} {self.object_id[:16]}: object is shorter than its header")
        if len(self._buf) < TAG_SIZE:
            raise IntegrityError(f"{self.kind} {self.object_id[:16]}: object is truncated")
        if len(self._buf) == TAG_SIZE and self._index > 0:
            raise IntegrityError(f"{self.kind} {self.object_id[:16]}: object has an empty last chunk")
        out = self._open(bytes(self._buf), last=True)
        self._buf.clear()
        self._done = True
        if self._hash is not None and not hmac.compare_digest(self._hash.hexdigest(), self.object_id):
            raise IntegrityError(f"{self.kind} {self.object_id[:16]}: content does not match its id")
        return out


def encrypt_bytes(keys: RepositoryKeys, kind: str, object_id: str, data: bytes) -> bytes:
    """The stored form of a small object held in memory."""
    enc = ObjectEncryptor(keys, kind, object_id, len(data), lambda off, n: data[off : off + n])
    return enc.read_range(0, enc.size)


def decrypt_bytes(keys: RepositoryKeys, kind: str, object_id: str, stored: bytes, *, verify_id: bool = True) -> bytes:
    """The plaintext of a small stored object; :class:`IntegrityError` if it is not authentic."""
    dec = ObjectDecryptor(keys, kind, object_id, verify_id=verify_id)
    return dec.feed(stored) + dec.finish()
