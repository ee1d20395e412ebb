"""printmanager's built-in encrypted credential vault.

Secrets (tokens, access keys, the sync key) live in ``<library>/vault.bin``,
encrypted with AES-256-GCM under a key kept by a credential store: DPAPI on
Windows, the OS keyring where there is a usable one, otherwise scrypt of a
passphrase. Plaintext only when the user asks for it by name. See ``docs/vault.md``.

Other plugins use :func:`get_secret`, :func:`set_secret` and :func:`delete_secret`,
or :class:`Vault` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.hookspecs import hookimpl
from printmanager_core.lazy_exports import lazy_exports

from .errors import (
    BackendUnavailable,
    PlaintextRefused,
    SecretNotFound,
    UnsupportedVaultVersion,
    VaultCorrupted,
    VaultError,
    VaultLocked,
    WrongKey,
    WrongPassphrase,
)

#: the public names re-exported from the submodules, imported on first use (PEP 562):
#: loading the plugin (every command does) does not import the vault and its stores
_LAZY = {
    **{name: "store" for name in ("CredentialStore", "KeyRequest", "KeySlot", "Passphrases", "choose_backend",
                                  "credential_stores")},
    **{name: "vault" for name in ("DestroyResult", "PlaintextVaultWarning", "Vault", "VaultInfo", "delete_secret",
                                  "get_secret", "library_directory", "open_vault", "set_secret")},
}


__getattr__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:  # pragma: no cover
    import click
    import pluggy

    from printmanager_core.library import Library
    from printmanager_core.privacy.delete import DeleteReport
    from printmanager_core.privacy.export import Export

    from .hookspecs import StoreFactory
    from .store import CredentialStore, KeyRequest, KeySlot, Passphrases, choose_backend, credential_stores
    from .vault import (
        DestroyResult,
        PlaintextVaultWarning,
        Vault,
        VaultInfo,
        delete_secret,
        get_secret,
        library_directory,
        open_vault,
        set_secret,
    )


__all__ = [
    "BackendUnavailable",
    "CredentialStore",
    "DestroyResult",
    "KeyRequest",
    "KeySlot",
    "Passphrases",
    "PlaintextRefused",
    "PlaintextVaultWarning",
    "SecretNotFound",
    "UnsupportedVaultVersion",
    "Vault",
    "VaultCorrupted",
    "VaultError",
    "VaultInfo",
    "VaultLocked",
    "WrongKey",
    "WrongPassphrase",
    "choose_backend",
    "credential_stores",
    "delete_secret",
    "get_secret",
    "open_vault",
    "set_secret",
]

EXPORT_DESCRIPTION = "Names of stored credentials (values are never exported)"


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``hookspecs.py``) to the plugin manager."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_credential_stores(register: "Callable[[StoreFactory], None]") -> None:
    """The built-in stores: dpapi, keyring, passphrase, plaintext."""
    from .backends import BUILTIN_STORES

    for factory in BUILTIN_STORES:
        register(factory)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``printmanager secrets ...``."""
    from .cli import secrets

    cli.add_command(secrets)


@hookimpl
def export_user_data(library: "Library", export: "Export") -> None:
    """Export the NAMES of the stored secrets and the backend; never a value."""
    from .vault import open_vault

    vault = open_vault(library)
    data: dict[str, Any] = {"names": [], "backend": None}
    try:
        info = vault.info()
        data["backend"] = info.backend
        if info.exists:
            data["names"] = vault.names()
    except VaultError as exc:
        data["names"] = None
        data["error"] = f"names not exported: {exc}"
    export.add_json("vault.json", data, EXPORT_DESCRIPTION)


@hookimpl(trylast=True)
def delete_user_data(library: "Library", report: "DeleteReport") -> None:
    """Delete the vault file and the key its store keeps (the keyring entry).

    ``trylast``: after every plugin that needs a credential to delete its data (sync's
    storage keys, the account's refresh token)."""
    from .vault import Vault, library_directory

    result = Vault(library_directory(library), prompt=None).destroy()
    detail = "; ".join(result.notes)
    if result.entries is not None:
        report.removed("vault entries", result.entries, detail=detail)
    elif result.file_removed:
        report.removed("vault file", 1, detail=detail or "entries not counted")
    if result.key_forgotten:
        report.removed("vault key in the OS keyring", 1)


@hookimpl
def register_settings(register: Callable[..., None]) -> None:
    """The plugin's setting ``vault.backend`` (docs/vault.md): the key's store, unset for the automatic choice."""
    from printmanager_core.settings import Setting

    from .vault import SETTING_BACKEND

    register(Setting(SETTING_BACKEND, None, "store for the vault key: dpapi, keyring or passphrase "
                                            "(unset: chosen automatically)"))
