"""Keys: the sharer's Ed25519 signing key and X25519 log identity (both in the vault), and the
age helpers a bundle is made and opened with.

The sync master key is never involved. Each share gets a fresh age X25519
identity (:func:`new_share_identity`) whose secret goes only into the links.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import attrs

from .errors import ShareError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

SIGNING_SECRET = "share.signing_key"
LOG_SECRET = "share.log_identity"
#: what the signature covers before the manifest's bytes (domain separation)
SIGNATURE_CONTEXT = b"printmanager-share/1\n"


def b64u(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Inverse of :func:`b64u` (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(public_key: bytes) -> str:
    """A signing key's fingerprint: the first 16 bytes of its SHA-256, hex, in groups of 4."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


@attrs.frozen
class SharerKeys:
    """The sharer's keys, from the vault."""

    signing_private: bytes = attrs.field(repr=False)
    signing_public: bytes
    log_identity: str = attrs.field(repr=False)
    log_recipient: str

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message``."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.signing_private).sign(message)


def _vault(library: "Library") -> Any:
    try:
        from printmanager_vault import open_vault
    except ImportError as exc:  # pragma: no cover - the share extra installs it
        raise ShareError("sharing needs the vault plugin (pip install 'printmanager[share]')") from exc
    return open_vault(library)


def sharer_keys(library: "Library", *, create: bool = True) -> SharerKeys | None:
    """The sharer's keys from the vault, made on first use (``create``); None if absent and not made."""
    import pyrage
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    vault = _vault(library)
    with vault.unlocked():
        names = set(vault.names()) if vault.exists() else set()
        if SIGNING_SECRET in names and LOG_SECRET in names:
            private = unb64u(vault.get(SIGNING_SECRET))
            log_identity = vault.get(LOG_SECRET)
        elif not create:
            return None
        else:
            key = Ed25519PrivateKey.generate()
            private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
            log_identity = str(pyrage.x25519.Identity.generate())
            vault.set(SIGNING_SECRET, b64u(private))
            vault.set(LOG_SECRET, log_identity)
    public = Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    recipient = str(pyrage.x25519.Identity.from_str(log_identity).to_public())
    return SharerKeys(private, public, log_identity, recipient)


def forget_sharer_keys(library: "Library") -> int:
    """Remove the sharer's keys from the vault; how many were removed."""
    try:
        vault = _vault(library)
        if not vault.exists():
            return 0
        return sum(bool(vault.delete(name, missing_ok=True)) for name in (SIGNING_SECRET, LOG_SECRET))
    except ShareError:
        return 0


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def new_share_identity() -> tuple[str, str]:
    """A fresh age X25519 identity for one share: ``(secret "AGE-SECRET-KEY-1...", recipient "age1...")``."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def check_recipient(text: str) -> str:
    """An age X25519 public key (``age1...``), checked; UsageError-like ShareError otherwise."""
    import pyrage

    try:
        return str(pyrage.x25519.Recipient.from_str(text.strip()))
    except Exception as exc:
        raise ShareError(f"{text!r} is not an age public key (age1...)") from exc


def wrap_identity(identity: str, password: str) -> str:
    """The ``#w=`` fragment value: the identity encrypted with age's scrypt passphrase recipient."""
    import pyrage

    return b64u(pyrage.passphrase.encrypt(identity.encode("ascii"), password))


def unwrap_identity(wrapped: str, password: str) -> str:
    """The identity inside a ``#w=`` value; ShareError on a wrong password."""
    import pyrage

    try:
        return pyrage.passphrase.decrypt(unb64u(wrapped), password).decode("ascii")
    except Exception as exc:
        raise ShareError("wrong password for this share link") from exc
