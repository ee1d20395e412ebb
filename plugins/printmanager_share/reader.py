"""The recipient's side: open a link, decrypt the bundle, check signature, sizes and hashes.

Needs nothing but the link (and the password for a password link): the key is in
the fragment, which is never sent to the gateway.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from .bundle import FORMAT, safe_relpath
from .errors import BundleInvalid, LinkRefused, ShareError
from .keys import SIGNATURE_CONTEXT, fingerprint, unb64u, unwrap_identity, verify_signature
from .model import OpenedFile, OpenResult


def parse_link(link: str) -> tuple[str, str, dict[str, str]]:
    """``(gateway base URL, token, fragment fields)`` of a share link."""
    parts = urlsplit(link.strip())
    segments = parts.path.rstrip("/").split("/")
    if parts.scheme not in ("http", "https") or len(segments) < 3 or segments[-2] != "s" or not segments[-1]:
        raise ShareError("not a share link (expected https://HOST/s/TOKEN#k=KEY)")
    fields = {k: v[0] for k, v in parse_qs(parts.fragment, keep_blank_values=True).items()}
    if "k" not in fields and "w" not in fields:
        raise ShareError("the link has no key (#k=...): copy the whole link, with the part after #")
    base = f"{parts.scheme}://{parts.netloc}{'/'.join(segments[:-2])}"
    return base, segments[-1], fields


def link_identity(fields: dict[str, str], password: str | Callable[[], str] | None) -> str:
    """The share's age identity, from ``#k=`` or unwrapped from ``#w=`` with the password."""
    if "k" in fields:
        return fields["k"].strip()
    if password is None:
        raise ShareError("this link needs its password (--password)")
    return unwrap_identity(fields["w"], password() if callable(password) else password)


def read_envelope(plaintext: bytes) -> tuple[dict[str, Any], bytes]:
    """The manifest (checked signature) and the signer's public key, from ``manifest.age``'s plaintext."""
    try:
        env = json.loads(plaintext)
        text = env["manifest"]
        sig = env["signature"]
        public, value = unb64u(sig["public_key"]), unb64u(sig["value"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleInvalid("the share's manifest is damaged") from exc
    if env.get("format") != FORMAT or sig.get("alg") != "ed25519":
        raise BundleInvalid(f"unknown share format {env.get('format')!r}")
    if not verify_signature(public, value, SIGNATURE_CONTEXT + text.encode("utf-8")):
        raise BundleInvalid("the share's manifest signature does not verify: do not trust these files")
    manifest = json.loads(text)
    if manifest.get("creator", {}).get("key_fingerprint") != fingerprint(public):
        raise BundleInvalid("the manifest names another signing key than the one that signed it")
    return manifest, public


def _refused(resp: Any) -> LinkRefused:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    state = str(body.get("state") or ("unknown" if resp.status_code == 404 else "refused"))
    message = str(body.get("error") or f"the gateway answered {resp.status_code} for {resp.url}: {resp.text[:200]}")
    return LinkRefused(message, resp.status_code, state)


def open_link(link: str, dest: str | os.PathLike[str], *, password: str | Callable[[], str] | None = None,
              client: Any = None) -> OpenResult:
    """Fetch a share through its gateway, decrypt it, check it, and write its files under ``dest``.

    :raises LinkRefused: the gateway said 404/410.
    :raises BundleInvalid: a signature, size or hash did not match (nothing unchecked is left behind).
    """
    import httpx
    import pyrage

    base, token, fields = parse_link(link)
    identity = pyrage.x25519.Identity.from_str(link_identity(fields, password))
    own = client is None
    http = client or httpx.Client(timeout=60.0, follow_redirects=True,
                                  headers={"user-agent": "printmanager-share-open/1"})
    folder = Path(dest).expanduser().resolve()
    written: list[OpenedFile] = []
    try:
        resp = http.get(f"{base}/s/{token}/manifest")
        if resp.status_code != 200:
            raise _refused(resp)
        try:
            manifest, public = read_envelope(pyrage.decrypt(resp.content, [identity]))
        except pyrage.DecryptError as exc:
            raise BundleInvalid("the link's key does not open this share") from exc
        folder.mkdir(parents=True, exist_ok=True)
        for entry in manifest.get("files", []):
            rel = str(entry.get("path", ""))
            if rel.startswith("/") or ".." in rel.split("/") or safe_relpath(rel) != rel:
                raise BundleInvalid(f"the share names an unsafe path {rel!r}")
            target = folder.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".share-", dir=target.parent)
            try:
                with http.stream("GET", f"{base}/s/{token}/f/{int(entry['n'])}") as got:
                    if got.status_code != 200:
                        got.read()
                        raise _refused(got)
                    with tempfile.TemporaryFile(dir=target.parent) as enc:  # ciphertext only
                        for chunk in got.iter_bytes():
                            enc.write(chunk)
                        enc.seek(0)
                        with os.fdopen(fd, "wb") as out:
                            try:
                                pyrage.decrypt_io(enc, out, [identity])
                            except pyrage.DecryptError as exc:
                                raise BundleInvalid(f"{rel} does not decrypt with the link's key") from exc
                digest, size = hashlib.sha256(), 0
                with open(tmp, "rb") as check:
                    while chunk := check.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                if size != int(entry["size"]) or digest.hexdigest() != entry["sha256"]:
                    raise BundleInvalid(f"{rel} does not match its manifest (size or SHA-256)")
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(OpenedFile(str(target), size, digest.hexdigest()))
    finally:
        if own:
            http.close()
    signer = (manifest.get("creator") or {}).get("name") or ""
    signer = f"{signer} ({fingerprint(public)})" if signer else fingerprint(public)
    return OpenResult(str(manifest.get("share_id", "")), str(manifest.get("title", "")), signer,
                      tuple(written), str(folder))


