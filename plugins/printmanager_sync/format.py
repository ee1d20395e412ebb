"""The container's layout: object names, the config object, snapshot and head encoding.

Everything of one user lives under ``users/<user-id>/``::

    config                 plaintext JSON: format, version, repository id, MAC
    keys/<key-id>          plaintext JSON key file: the master key wrapped by scrypt(passphrase)
    data/<id[:2]>/<id>     encrypted blobs (file contents, thumbnails, database backups)
    snapshots/<id>         encrypted, zlib-compressed JSON snapshot manifest (its pages are blobs)
    head                   encrypted JSON pointer to the newest snapshot (written with If-Match)

Ids are 64 hex digits: HMAC-SHA256 of the object's plaintext under a key derived
from the master key. See ``docs/sync.md`` for the full specification.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from .errors import IntegrityError, SyncError

FORMAT_NAME = "printmanager-sync"
FORMAT_VERSION = 1
#: the snapshot format written: 2 = a manifest and content-addressed pages (``pages.py``)
SNAPSHOT_VERSION = 2
#: the snapshot formats read (1: one object with everything)
SNAPSHOT_VERSIONS = (1, 2)

USERS = "users/"
CONFIG = "config"
KEYS = "keys/"
DATA = "data/"
SNAPSHOTS = "snapshots/"
HEAD = "head"

_ID = re.compile(r"^[0-9a-f]{64}$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_user_id(user: str) -> str:
    """``user`` if it is a valid user id (letters, digits, ``-``, ``_``; at most 64)."""
    if not isinstance(user, str) or not _USER.match(user):
        raise SyncError(f"invalid user id {user!r}: use letters, digits, '-' and '_' (at most 64)")
    return user


def is_object_id(text: str) -> bool:
    """True for a 64-hex-digit object id."""
    return bool(_ID.match(text))


def user_prefix(user: str) -> str:
    """The prefix of everything stored for ``user``."""
    return f"{USERS}{check_user_id(user)}/"


def blob_name(blob_id: str) -> str:
    """Name of a blob relative to the user prefix."""
    return f"{DATA}{blob_id[:2]}/{blob_id}"


def snapshot_name(snapshot_id: str) -> str:
    """Name of a snapshot relative to the user prefix."""
    return f"{SNAPSHOTS}{snapshot_id}"


#: a lone surrogate: how a ``str`` from ``os`` carries a byte of a name that is not valid UTF-8
_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8.

    File names are bytes: a name that is not valid UTF-8 reaches us as a ``str`` with lone
    surrogates (PEP 383, ``surrogateescape``: byte ``0xXY`` is U+DCXY). Those are written as
    JSON escapes (``\\udce9``), which parse back to the same ``str``, so the exact bytes
    survive; every other character is plain UTF-8 as before.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def config_payload(config: dict[str, Any]) -> bytes:
    """The bytes the config MAC covers: the config without its ``mac``."""
    return canonical_json({k: v for k, v in config.items() if k != "mac"})


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object or raise :class:`IntegrityError` naming ``what``."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise IntegrityError(f"{what} is damaged (not JSON)") from None
    if not isinstance(value, dict):
        raise IntegrityError(f"{what} is damaged (not a JSON object)")
    return value


def encode_snapshot(snapshot: dict[str, Any]) -> bytes:
    """The plaintext of a snapshot object: zlib-compressed canonical JSON."""
    return zlib.compress(canonical_json(snapshot), 6)


def decode_snapshot(plaintext: bytes) -> dict[str, Any]:
    """A snapshot from its plaintext; :class:`IntegrityError` if it is not one."""
    try:
        raw = zlib.decompress(plaintext)
    except zlib.error:
        raise IntegrityError("snapshot is damaged (not zlib data)") from None
    snap = parse_json_object(raw, "snapshot")
    if snap.get("version") not in SNAPSHOT_VERSIONS:
        version = snap.get("version")
        shown = version if isinstance(version, (int, str)) else type(version).__name__
        raise IntegrityError(f"snapshot version {shown} is not supported")
    return snap


def encode_head(snapshot_id: str, seq: int, device: str, time: str) -> bytes:
    """The plaintext of the head object."""
    return canonical_json({"snapshot": snapshot_id, "seq": seq, "device": device, "time": time})


def decode_head(plaintext: bytes) -> dict[str, Any]:
    """The head pointer from its plaintext."""
    head = parse_json_object(plaintext, "head")
    if not is_object_id(str(head.get("snapshot", ""))) or not isinstance(head.get("seq"), int):
        raise IntegrityError("head is damaged (no snapshot id)")
    return head
