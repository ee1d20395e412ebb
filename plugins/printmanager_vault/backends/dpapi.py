"""The Windows store: DPAPI protects the vault's random data key.

``CryptProtectData``/``CryptUnprotectData`` are called through ctypes with
``CRYPTPROTECT_UI_FORBIDDEN`` (never a dialog). The protected blob is kept in the
vault header; only the same Windows user (on the same machine, unless the profile
roams) can unprotect it. The vault id is passed as DPAPI's optional entropy, so a
blob copied into another vault's header does not open.

The ctypes layer takes its three Win32 functions from a :class:`Win32Api`, so
the marshalling can be exercised on any OS with functions of the same ctypes
prototypes (see ``tests/test_vault_dpapi.py``).
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import os
import sys
from ctypes import wintypes
from typing import Any, Callable, ClassVar, Mapping

import attrs

from ..errors import BackendUnavailable, UnsupportedVaultVersion, VaultError, WrongKey
from ..store import KeyRequest, KeySlot

#: Fail instead of showing any UI (wincrypt.h).
CRYPTPROTECT_UI_FORBIDDEN = 0x1

#: Description stored (unencrypted) inside the DPAPI blob.
DESCRIPTION = "printmanager vault key"


class DATA_BLOB(ctypes.Structure):
    """wincrypt.h ``DATA_BLOB``: a length and a pointer to bytes."""

    _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]


PBLOB = ctypes.POINTER(DATA_BLOB)

#: ``BOOL CryptProtectData(DATA_BLOB *pDataIn, LPCWSTR szDataDescr, DATA_BLOB *pOptionalEntropy,
#: PVOID pvReserved, CRYPTPROTECT_PROMPTSTRUCT *pPromptStruct, DWORD dwFlags, DATA_BLOB *pDataOut)``
PROTECT_ARGTYPES: tuple[Any, ...] = (
    PBLOB,
    wintypes.LPCWSTR,
    PBLOB,
    ctypes.c_void_p,
    ctypes.c_void_p,
    wintypes.DWORD,
    PBLOB,
)
#: ``BOOL CryptUnprotectData(DATA_BLOB *pDataIn, LPWSTR *ppszDataDescr, DATA_BLOB *pOptionalEntropy,
#: PVOID pvReserved, CRYPTPROTECT_PROMPTSTRUCT *pPromptStruct, DWORD dwFlags, DATA_BLOB *pDataOut)``
UNPROTECT_ARGTYPES: tuple[Any, ...] = (
    PBLOB,
    ctypes.POINTER(wintypes.LPWSTR),
    PBLOB,
    ctypes.c_void_p,
    ctypes.c_void_p,
    wintypes.DWORD,
    PBLOB,
)
#: ``HLOCAL LocalFree(HLOCAL hMem)``
LOCALFREE_ARGTYPES: tuple[Any, ...] = (wintypes.HLOCAL,)


class DpapiError(VaultError):
    """A DPAPI call failed; the message names the call and the Windows error."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@attrs.frozen
class Win32Api:
    """The Win32 functions the store calls, with ctypes prototypes set.

    :ivar protect: ``crypt32.CryptProtectData``.
    :ivar unprotect: ``crypt32.CryptUnprotectData``.
    :ivar local_free: ``kernel32.LocalFree`` (frees the output blobs).
    :ivar last_error: returns the calling thread's last Win32 error.
    """

    protect: Callable[..., int]
    unprotect: Callable[..., int]
    local_free: Callable[..., Any]
    last_error: Callable[[], int]


def load_win32_api() -> Win32Api:
    """Load crypt32/kernel32 and set the prototypes; BackendUnavailable off Windows."""
    if sys.platform != "win32":
        raise BackendUnavailable("DPAPI exists only on Windows")
    crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    protect = crypt32.CryptProtectData
    protect.argtypes, protect.restype = PROTECT_ARGTYPES, wintypes.BOOL
    unprotect = crypt32.CryptUnprotectData
    unprotect.argtypes, unprotect.restype = UNPROTECT_ARGTYPES, wintypes.BOOL
    local_free = kernel32.LocalFree
    local_free.argtypes, local_free.restype = LOCALFREE_ARGTYPES, wintypes.HLOCAL
    return Win32Api(protect, unprotect, local_free, ctypes.get_last_error)  # type: ignore[attr-defined]


def _in_blob(data: bytes) -> tuple[DATA_BLOB, Any]:
    buffer = ctypes.create_string_buffer(data, len(data))
    return DATA_BLOB(len(data), ctypes.cast(buffer, ctypes.POINTER(ctypes.c_char))), buffer


def _error_text(code: int) -> str:
    format_error = getattr(ctypes, "FormatError", None)
    text = format_error(code).strip() if format_error is not None else ""
    return f"Windows error {code}" + (f": {text}" if text else "")


def _take_output(api: Win32Api, blob: DATA_BLOB) -> bytes:
    try:
        return ctypes.string_at(blob.pbData, blob.cbData)
    finally:
        api.local_free(ctypes.cast(blob.pbData, ctypes.c_void_p))


def protect(data: bytes, entropy: bytes, api: Win32Api, description: str = DESCRIPTION) -> bytes:
    """Protect ``data`` for the current Windows user (CryptProtectData, UI forbidden)."""
    data_in, keep_data = _in_blob(data)
    extra, keep_extra = _in_blob(entropy)
    data_out = DATA_BLOB()
    ok = api.protect(
        ctypes.byref(data_in),
        description,
        ctypes.byref(extra),
        None,
        None,
        CRYPTPROTECT_UI_FORBIDDEN,
        ctypes.byref(data_out),
    )
    if not ok:
        code = api.last_error()
        raise DpapiError(f"CryptProtectData failed ({_error_text(code)})", code)
    del keep_data, keep_extra
    return _take_output(api, data_out)


def unprotect(blob: bytes, entropy: bytes, api: Win32Api) -> bytes:
    """Recover data protected by :func:`protect` (CryptUnprotectData, UI forbidden)."""
    data_in, keep_data = _in_blob(blob)
    extra, keep_extra = _in_blob(entropy)
    data_out = DATA_BLOB()
    ok = api.unprotect(
        ctypes.byref(data_in), None, ctypes.byref(extra), None, None, CRYPTPROTECT_UI_FORBIDDEN, ctypes.byref(data_out)
    )
    if not ok:
        code = api.last_error()
        raise DpapiError(f"CryptUnprotectData failed ({_error_text(code)})", code)
    del keep_data, keep_extra
    return _take_output(api, data_out)


class DpapiStore:
    """Protects a random 32-byte data key with DPAPI and keeps the blob in the vault header.

    :param api: the Win32 functions (default: the real ones, loaded on first use).
    """

    name: ClassVar[str] = "dpapi"
    plaintext: ClassVar[bool] = False
    description: ClassVar[str] = "random data key protected by Windows DPAPI for the current user"

    def __init__(self, api: Win32Api | None = None):
        self._api = api

    def _win32(self) -> Win32Api:
        if self._api is None:
            self._api = load_win32_api()
        return self._api

    def unavailable_reason(self) -> str | None:
        """Why DPAPI cannot be used here (not Windows), or None."""
        if self._api is None and sys.platform != "win32":
            return "DPAPI exists only on Windows"
        return None

    def create_key(self, request: KeyRequest) -> KeySlot:
        """Make a random key and protect it for this Windows user."""
        key = os.urandom(32)
        blob = protect(key, request.vault_id.encode("utf-8"), self._win32())
        return KeySlot(key, {"kdf": "dpapi", "blob": base64.b64encode(blob).decode("ascii")})

    def open_key(self, params: Mapping[str, Any], request: KeyRequest) -> bytes:
        """Unprotect the blob in the header."""
        if params.get("kdf") != "dpapi":
            raise UnsupportedVaultVersion(
                f"vault key derivation {params.get('kdf')!r} is not supported by this version"
            )
        try:
            blob = base64.b64decode(str(params.get("blob", "")), validate=True)
        except (binascii.Error, ValueError):
            raise UnsupportedVaultVersion("vault header has a DPAPI blob this version cannot read") from None
        try:
            key = unprotect(blob, request.vault_id.encode("utf-8"), self._win32())
        except DpapiError as exc:
            raise WrongKey(
                f"DPAPI could not unprotect the vault key (another Windows user or machine?): {exc}"
            ) from None
        if len(key) != 32:
            raise WrongKey("DPAPI returned something that is not a printmanager vault key")
        return key

    def forget_key(self, params: Mapping[str, Any], request: KeyRequest) -> bool:
        """The blob lives in the vault file; deleting the file forgets it."""
        return False

    def wrong_key(self) -> VaultError:
        """DPAPI gave a key that does not open the vault."""
        return WrongKey("the DPAPI-protected key does not open this vault")
