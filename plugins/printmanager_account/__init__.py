"""printmanager's built-in account plugin: sign-in with Supabase Auth (see ``docs/account.md``).

Nothing here contacts the provider until the user runs ``printmanager account login``.
The refresh token lives only in the vault (``printmanager_vault``), the access token only
in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from printmanager_core.hookspecs import hookimpl

from .errors import AccountError, EntitlementRequired, NotSignedIn, ServiceUnreachable, SignInFailed, TokenInvalid

if TYPE_CHECKING:  # pragma: no cover
    import click
    import pluggy
    from printmanager_core.library import Library
    from printmanager_core.privacy.delete import DeleteReport
    from printmanager_core.privacy.export import Export

    from .entitlement import Entitlement, current_entitlement, require_entitlement
    from .session import Account, Session
    from .supabase import SupabaseProvider, Tokens

# The session and provider modules import httpx and joserfc: load them only when used, so that
# loading the plugins (every command does) never imports a network library.
_LAZY = {"Account": "session", "Session": "session", "SupabaseProvider": "supabase", "Tokens": "supabase",
         "Entitlement": "entitlement", "current_entitlement": "entitlement", "require_entitlement": "entitlement"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Account", "AccountError", "Entitlement", "EntitlementRequired", "NotSignedIn", "ServiceUnreachable",
           "Session", "SignInFailed", "SupabaseProvider", "TokenInvalid", "Tokens", "current_entitlement",
           "identity_providers", "require_entitlement"]


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``hookspecs.py``) to the plugin manager."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_identity_providers(register: Callable[..., None]) -> None:
    """The built-in provider: ``supabase``."""
    from .supabase import SupabaseProvider

    register("supabase", SupabaseProvider)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    """``printmanager account ...``."""
    from .cli import account

    cli.add_command(account)


@hookimpl
def export_user_data(library: "Library", export: "Export") -> None:
    """``account.json``: the account's email and display name (when signed in; no network)."""
    from .privacy import export_account

    export_account(library, export)


@hookimpl
def delete_user_data(library: "Library", report: "DeleteReport") -> None:
    """Delete the account at the provider where it allows it (else say so), revoke the session and
    forget it. A plain hook: after sync (``tryfirst``), before the vault (``trylast``)."""
    from .privacy import delete_account

    delete_account(library, report)


def identity_providers() -> "dict[str, Callable[..., SupabaseProvider]]":
    """Every registered identity provider factory by name; the first plugin to give a name keeps it."""
    from printmanager_core.plugins import get_plugin_manager

    found: "dict[str, Callable[..., SupabaseProvider]]" = {}

    def register(name: str, factory: "Callable[..., SupabaseProvider]") -> None:
        found.setdefault(name, factory)

    get_plugin_manager().hook.register_identity_providers(register=register)
    return found


@hookimpl
def register_settings(register: Callable[..., None]) -> None:
    """``account.url`` and ``account.anon_key``: the service's Supabase project (both public)."""
    from printmanager_core.settings import Setting

    from .cli import SETTING_ANON_KEY, SETTING_URL
    from .privacy import SETTING_DELETE_URL

    register(Setting(SETTING_URL, None, "address of the service's Supabase project (unset: no account)"))
    register(Setting(SETTING_DELETE_URL, None, "the service's account-deletion endpoint, used by privacy delete "
                                                "(unset: none; see docs/account.md)"))
    register(Setting(SETTING_ANON_KEY, None, "the project's public anon key"))
    from .entitlement import DEFAULT_GRACE_DAYS, SETTING_GRACE_DAYS

    register(Setting(SETTING_GRACE_DAYS, DEFAULT_GRACE_DAYS,
                     "days a verified subscription still counts while the service cannot be reached",
                     minimum=0, maximum=90))


@hookimpl
def register_entitlement_sources(register: Callable[..., None]) -> None:
    """The built-in sources, asked in this order: ``service`` (a signed entitlement token from the
    service) and ``access-token`` (``app_metadata.entitlement`` of the access token)."""
    from .entitlement import AccessTokenSource, ServiceSource

    register("service", ServiceSource)
    register("access-token", AccessTokenSource)


@hookimpl(optionalhook=True)
def register_storage_credential_sources(register: Callable[..., None]) -> None:
    """``account``: short-lived storage credentials scoped to the signed-in user, from the service.
    ``optionalhook``: the spec is the sync plugin's; without it this is never called."""
    from .storage import account_storage_source

    register("account", account_storage_source)
