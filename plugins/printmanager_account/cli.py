"""``printmanager account login|status|logout``: a thin skin over :class:`.session.Session`."""

from __future__ import annotations

import getpass
import sys
import webbrowser
from typing import TYPE_CHECKING, Callable

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library

from .errors import AccountError

if TYPE_CHECKING:  # pragma: no cover
    from .entitlement import Entitlement
    from .session import Session

SETTING_URL = "account.url"
SETTING_ANON_KEY = "account.anon_key"

#: how ``login --google`` opens the browser: Python's :func:`webbrowser.open`, which honours the
#: ``BROWSER`` environment variable (a command that gets the address as its argument); a
#: one-item list so an embedding program can put in its own opener
OPEN_BROWSER: list[Callable[[str], object]] = [webbrowser.open]


def _open_browser(url: str) -> None:
    if OPEN_BROWSER[0](url) is False:  # webbrowser found no browser to run
        click.echo(f"No browser could be opened; open this address to sign in:\n  {url}", err=True)


def _session(state: LibraryContext) -> Session:
    from printmanager_vault import open_vault
    from printmanager_vault.store import ask_on_terminal

    from .session import Session

    return Session(open_vault(state.library, prompt=ask_on_terminal))


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


@click.group("account")
def account() -> None:
    """Sign in to the printmanager service (Supabase Auth); see docs/account.md."""


@account.command("login")
@click.option("--google", is_flag=True,
              help="Sign in with Google in the system browser (PKCE, loopback redirect; BROWSER picks the browser).")
@click.option("--email", metavar="EMAIL", help="Sign in with this email and a password (read hidden, or from stdin).")
@click.option("--url", metavar="URL", envvar="PRINTMANAGER_ACCOUNT_URL",
              help="The service's Supabase project address (default: the account.url setting).")
@click.option("--anon-key", metavar="KEY", envvar="PRINTMANAGER_ACCOUNT_ANON_KEY",
              help="The project's public anon key (default: the account.anon_key setting).")
@pass_library
def login_command(state: LibraryContext, google: bool, email: str | None, url: str | None,
                  anon_key: str | None) -> None:
    """Sign in; the refresh token goes into the vault, the access token stays in memory."""
    from . import identity_providers

    url = url or state.library.settings.get(SETTING_URL)
    anon_key = anon_key or state.library.settings.get(SETTING_ANON_KEY)
    if not url or not anon_key:
        raise click.ClickException("no service address: pass --url and --anon-key or set account.url/account.anon_key")
    if not google and not email:
        email = click.prompt("Email")
    provider = identity_providers()["supabase"](url, anon_key)
    try:
        if google:
            from .loopback import sign_in_with_browser

            click.echo("Opening the browser to sign in with Google...", err=True)
            tokens = sign_in_with_browser(provider, "google", open_browser=_open_browser)
        else:
            assert email is not None
            tokens = provider.sign_in_password(email, _read_password())
        session = _session(state)
        signed_in = session.sign_in(provider, tokens)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        provider.close()
    click.echo(f"Signed in as {signed_in.email}")
    _check_subscription(state, session)


def _check_subscription(state: LibraryContext, session: Session) -> None:
    """Right after sign-in: fetch and cache the subscription (best effort; `account status` shows it)."""
    from .entitlement import check_entitlement

    try:
        check_entitlement(state.library, session=session)
    except AccountError as exc:
        click.echo(f"warning: subscription not checked: {exc}", err=True)


def _subscription_lines(entitlement: "Entitlement | None") -> list[str]:
    if entitlement is None:
        return ["Subscription: unknown (not checked yet; run: printmanager account status --check)"]
    from .entitlement import ACTIVE_STATUSES

    renews = entitlement.as_dict()["renews_at"]
    line = f"Plan: {entitlement.plan} ({entitlement.status})"
    if renews:
        line += f", renews {renews[:10]}" if entitlement.status in ACTIVE_STATUSES else f", ended {renews[:10]}"
    lines = [line]
    checked = entitlement.as_dict()
    if entitlement.lapsed:
        lines.append(f"Subscription last checked {checked['checked_at']}; the offline grace period ended "
                     f"{checked['grace_until']} (run: printmanager account status --check)")
    elif entitlement.offline:
        lines.append(f"Subscription last checked {checked['checked_at']}; counts offline until {checked['grace_until']}")
    return lines


@account.command("status")
@click.option("--check", is_flag=True, help="Ask the service for the subscription now (else: the cached one, no network).")
@json_option()
@pass_library
def status_command(state: LibraryContext, check: bool, as_json: bool) -> None:
    """Show who is signed in and the subscription: plan, status, renewal date (from the vault; no network)."""
    from .entitlement import cached_entitlement, check_entitlement
    from .errors import ServiceUnreachable

    try:
        session = _session(state)
        current = session.account()
        subscription = None
        if current is not None:
            with session.vault.unlocked():
                subscription = cached_entitlement(state.library, session=session)
                if check:
                    try:
                        subscription = check_entitlement(state.library, session=session)
                    except ServiceUnreachable as exc:
                        if subscription is None:
                            raise
                        click.echo(f"warning: showing the cached subscription: {exc}", err=True)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json({"signed_in": current is not None, "account": current.as_dict() if current else None,
                   "subscription": subscription.as_dict() if subscription else None})
        return
    if current is None:
        click.echo("Not signed in")
        return
    click.echo(f"Signed in as {current.email}" + (f" ({current.display_name})" if current.display_name else ""))
    click.echo(f"Provider: {current.provider} at {current.url}")
    for line in _subscription_lines(subscription):
        click.echo(line)


@account.command("logout")
@pass_library
def logout_command(state: LibraryContext) -> None:
    """Revoke the session at the provider and forget the refresh token."""
    session = _session(state)
    if session.account() is None:
        click.echo("Not signed in")
        return
    revoked = session.sign_out()
    click.echo("Signed out" if revoked else "Signed out here; the provider could not be reached to revoke the session")
