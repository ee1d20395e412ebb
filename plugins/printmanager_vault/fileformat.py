"""The vault file format (version 1).

::

    offset  size  field
    0       8     magic  b"PMVAULT\\n"
    8       1     format version (1)
    9       4     header length N (big-endian)
    13      N     header: UTF-8 JSON object, sorted keys (see :class:`Header`)
    13+N    32    SHA-256 of bytes 0 .. 13+N (catches a damaged header before any key is tried)
    45+N    ...   body: AES-256-GCM ciphertext + 16-byte tag of the padded JSON payload
                  (plaintext vaults: the JSON payload itself)

Bytes 0 .. 45+N are the AEAD associated data, so a change anywhere in the file
fails authentication. The header holds no secret: the backend name, the fields
its store needs to recover the key (scrypt cost and salt, keyring entry name,
DPAPI blob), the cipher, the nonce and a key-check value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from typing import Any

import attrs

from .errors import UnsupportedVaultVersion, VaultCorrupted

MAGIC = b"PMVAULT\n"
FORMAT_VERSION = 1
PREFIX = struct.Struct(">8sBI")
CHECKSUM_BYTES = 32
#: Longest header accepted (a DPAPI blob is a few hundred bytes).
MAX_HEADER_BYTES = 64 * 1024
#: Largest vault file read.
MAX_FILE_BYTES = 16 * 1024 * 1024

CIPHER_AESGCM = "AES-256-GCM"
CIPHER_NONE = "none"
CIPHERS = (CIPHER_AESGCM, CIPHER_NONE)


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _unb64(value: Any, field: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise VaultCorrupted(f"vault header field {field!r} is malformed")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VaultCorrupted(f"vault header field {field!r} is malformed") from None


@attrs.frozen
class Header:
    """The unencrypted (but authenticated) header of a vault file.

    :ivar vault_id: random id of the vault, kept across rotations.
    :ivar backend: name of the credential store that holds or derives the key.
    :ivar key: the store's fields (kdf id and parameters); never secret.
    :ivar cipher: ``AES-256-GCM``, or ``none`` for a plaintext vault.
    :ivar nonce: the AEAD nonce of this write (12 random bytes).
    :ivar check: 16 bytes derived from the key (HKDF) that tell a wrong key from a damaged body.
    :ivar digest: SHA-256 of the body of a plaintext vault (accidental damage only).
    """

    vault_id: str
    backend: str
    key: dict[str, Any]
    cipher: str
    nonce: bytes | None = None
    check: bytes | None = None
    digest: bytes | None = None

    def to_json(self) -> bytes:
        """The header as canonical JSON bytes."""
        value = {
            "vault_id": self.vault_id,
            "backend": self.backend,
            "key": self.key,
            "cipher": self.cipher,
            "nonce": _b64(self.nonce),
            "check": _b64(self.check),
            "digest": _b64(self.digest),
        }
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "Header":
        """Parse header JSON; VaultCorrupted or UnsupportedVaultVersion when it is not usable."""
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise VaultCorrupted("vault header is damaged: not readable") from None
        if not isinstance(value, dict):
            raise VaultCorrupted("vault header is damaged: not readable")
        vault_id, backend, key, cipher = (value.get(k) for k in ("vault_id", "backend", "key", "cipher"))
        if not (isinstance(vault_id, str) and isinstance(backend, str) and isinstance(key, dict)):
            raise VaultCorrupted("vault header lacks its id, backend or key fields")
        if cipher not in CIPHERS:
            raise UnsupportedVaultVersion(f"vault cipher {cipher!r} is not supported by this version")
        header = cls(
            vault_id=vault_id,
            backend=backend,
            key=key,
            cipher=cipher,
            nonce=_unb64(value.get("nonce"), "nonce"),
            check=_unb64(value.get("check"), "check"),
            digest=_unb64(value.get("digest"), "digest"),
        )
        if cipher == CIPHER_AESGCM and (header.nonce is None or len(header.nonce) != 12 or header.check is None):
            raise VaultCorrupted("vault header lacks its nonce or key check")
        if cipher == CIPHER_NONE and header.digest is None:
            raise VaultCorrupted("plaintext vault header lacks its digest")
        return header


@attrs.frozen
class VaultFile:
    """A parsed vault file: its header, the authenticated prefix bytes, and the body."""

    header: Header
    prefix: bytes
    body: bytes


def encode_prefix(header: Header) -> bytes:
    """Magic, version, header length, header JSON and its SHA-256: the AEAD associated data."""
    header_json = header.to_json()
    if len(header_json) > MAX_HEADER_BYTES:
        raise ValueError("vault header too large")
    start = PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_json)) + header_json
    return start + hashlib.sha256(start).digest()


def parse(data: bytes) -> VaultFile:
    """Split and check a vault file's bytes.

    :raises VaultCorrupted: not a vault, truncated, or the header checksum fails.
    :raises UnsupportedVaultVersion: written by a newer format version.
    """
    if not data:
        raise VaultCorrupted("vault file is empty (damaged or truncated)")
    if len(data) < PREFIX.size:
        raise VaultCorrupted("vault file is truncated")
    magic, version, header_len = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise VaultCorrupted("vault file is damaged: not a printmanager vault (bad magic bytes)")
    if header_len > MAX_HEADER_BYTES:
        raise VaultCorrupted("vault file is damaged: header length out of range")
    end = PREFIX.size + header_len
    if len(data) < end + CHECKSUM_BYTES:
        raise VaultCorrupted("vault file is truncated")
    if hashlib.sha256(data[:end]).digest() != data[end : end + CHECKSUM_BYTES]:
        raise VaultCorrupted("vault header is damaged or was modified (checksum mismatch)")
    if version != FORMAT_VERSION:
        raise UnsupportedVaultVersion(f"vault format version {version} is newer than this printmanager supports")
    header = Header.from_json(data[PREFIX.size : end])
    return VaultFile(header=header, prefix=data[: end + CHECKSUM_BYTES], body=data[end + CHECKSUM_BYTES :])
