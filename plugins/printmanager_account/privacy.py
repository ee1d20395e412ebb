"""The account plugin's part of ``privacy export`` and ``privacy delete`` (PROMISE 6; docs/account.md).

The account data the policy lists is the email and the display name, nothing else: the
export writes them to ``account.json``. ``privacy delete`` asks the identity provider to
delete the account where the provider allows it, revokes the session, and removes the
vault entry (refresh token and account data). What it could not do it says in the delete
report (``could not ...``), and the rest of the delete goes on.

Supabase Auth lets no user delete their own account with the public anon key; the admin
API (``DELETE /auth/v1/admin/users/{id}``) needs the project's service-role key. So the
provider is asked only when one of these is configured:

* the setting ``account.delete_url``: the service's own account-deletion endpoint (a
  Supabase Edge Function holding the service-role key server-side, e.g.
  ``/functions/v1/delete-account``), called with the user's access token;
* the service-role key, for a project the user runs themself: in the vault entry
  ``account.service_role_key`` (``printmanager secrets set account.service_role_key``) or the
  environment variable ``PRINTMANAGER_ACCOUNT_SERVICE_ROLE_KEY``.

Nothing here contacts the provider unless there is a saved session (the user signed in).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from .errors import AccountError
from .session import SECRET_NAME

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.privacy.delete import DeleteReport
    from printmanager_core.privacy.export import Export

    from .session import Session

EXPORT_NAME = "account.json"
EXPORT_DESCRIPTION = ("Your account with the printmanager service: email and display name "
                      "(the sign-in tokens are never exported)")
#: the service's account-deletion endpoint (unset: none)
SETTING_DELETE_URL = "account.delete_url"
#: where a service-role key (a project the user runs themself) is looked for
SERVICE_ROLE_SECRET = "account.service_role_key"
SERVICE_ROLE_ENV = "PRINTMANAGER_ACCOUNT_SERVICE_ROLE_KEY"
DASHBOARD_ADVICE = "delete it from the service's dashboard or account settings"


def _vault(library: "Library") -> Any:
    from printmanager_vault import open_vault

    return open_vault(library)


def _saved(vault: Any) -> dict[str, Any] | None:
    if not vault.exists() or SECRET_NAME not in vault.names():
        return None
    return dict(json.loads(vault.get(SECRET_NAME)))


def export_account(library: "Library", export: "Export") -> None:
    """Add ``account.json`` (email and display name) when the user is signed in; no network."""
    from printmanager_vault import VaultError

    vault = _vault(library)
    try:
        with vault.unlocked():
            saved = _saved(vault)
    except VaultError as exc:
        export.add_json(EXPORT_NAME, {"email": None, "display_name": None,
                                      "error": f"account data not exported: {exc}"}, EXPORT_DESCRIPTION)
        return
    if saved is None:
        return  # not signed in: no account data is held
    export.add_json(EXPORT_NAME, {"email": saved.get("email"), "display_name": saved.get("display_name")},
                    EXPORT_DESCRIPTION)


def _service_role_key(vault: Any) -> str | None:
    key = os.environ.get(SERVICE_ROLE_ENV)
    if key:
        return key
    return str(vault.get(SERVICE_ROLE_SECRET)) if SERVICE_ROLE_SECRET in vault.names() else None


def _delete_at_provider(library: "Library", session: "Session", vault: Any) -> str | None:
    """Ask the provider to delete the account; None when it did, else why not."""
    endpoint = library.settings.get(SETTING_DELETE_URL)
    admin_key = None if endpoint else _service_role_key(vault)
    if not endpoint and not admin_key:
        return ("Supabase Auth does not let a user delete their own account, and no account-deletion "
                f"endpoint ({SETTING_DELETE_URL}) or service-role key is configured")
    try:
        tokens = session.access_token()
        provider = session.provider()
        try:
            if endpoint:
                provider.delete_account_at(str(endpoint), tokens.access_token)
            else:
                assert admin_key is not None
                provider.delete_user_as_admin(str(tokens.claims["sub"]), admin_key)
        finally:
            provider.close()
    except AccountError as exc:
        return str(exc)
    return None


def delete_account(library: "Library", report: "DeleteReport") -> None:
    """Delete the account at the provider where it allows it, revoke the session, forget it here.

    Never raises for the provider: what it could not do goes to ``report.could_not``.
    """
    from printmanager_vault import VaultError

    vault = _vault(library)
    try:
        with vault.unlocked():
            _delete_account(library, report, vault)
    except VaultError as exc:  # the vault plugin deletes it all the same (it never needs the key)
        report.could_not("tell whether an account is signed in, or delete it at the provider",
                         f"the vault could not be opened ({exc}); if you were signed in, {DASHBOARD_ADVICE}")


def _delete_account(library: "Library", report: "DeleteReport", vault: Any) -> None:
    from .session import Session

    saved = _saved(vault)
    if saved is None:
        return  # not signed in: nothing held, nothing sent
    who = f"{saved.get('email') or 'the account'} at {saved.get('url')}"
    session = Session(vault)
    why = _delete_at_provider(library, session, vault)
    if why is None:
        report.removed("account at the identity provider", 1, detail=who)
    else:
        report.could_not(f"delete the account {who}", f"{why}; {DASHBOARD_ADVICE}")
    revoked = session.sign_out()  # revokes the session (if the account is still there) and forgets it
    if why is not None and not revoked:
        report.could_not("revoke the session at the provider",
                         "it could not be reached; the refresh token was deleted here all the same")
    report.removed("account session and data", 1,
                   detail=f"vault entry {SECRET_NAME}: refresh token, email, display name")
