"""``printmanager share notify ...``: set up, inspect and turn off share notices."""

from __future__ import annotations

import sys
from typing import Any

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library


@click.group("notify")
def notify() -> None:
    """Share notices: email each recipient their own link (off until set up)."""


def _read_password(user: str, from_stdin: bool) -> str | None:
    if not user:
        return None
    if from_stdin:
        text = sys.stdin.readline().rstrip("\r\n")
        if not text:
            raise click.UsageError("--password-stdin: standard input held no password")
        return text
    if not sys.stdin.isatty():
        raise click.UsageError(f"SMTP user {user!r} needs a password: give it on standard input with --password-stdin")
    return str(click.prompt(f"SMTP password for {user}", hide_input=True, err=True))


def status_of(library: Any) -> dict[str, Any]:
    """What ``share notify status`` shows: on/off, the SMTP settings, whether a password is stored."""
    from printmanager_vault import VaultError, get_secret

    from .api import notifiers
    from .smtp import PASSWORD_SECRET, SmtpConfig, is_configured

    config = SmtpConfig.of(library)
    try:
        stored: bool | None = get_secret(library, PASSWORD_SECRET) is not None if config.user else False
    except VaultError:
        stored = None
    return {"smtp": {"on": is_configured(library), **config.as_json(), "password_stored": stored},
            "notifiers": notifiers().names()}


@notify.command("setup")
@click.option("--host", required=True, help="The SMTP server.")
@click.option("--port", type=click.IntRange(1, 65535), default=587, show_default=True, help="Its port (465 for --security tls).")
@click.option("--security", type=click.Choice(["starttls", "tls"]), default="starttls", show_default=True,
              help="STARTTLS on a plain port, or TLS from the first byte. Never plaintext.")
@click.option("--user", default="", help="The login (the password is asked for and kept in the vault).")
@click.option("--from", "sender", required=True, help="The From address of the notices.")
@click.option("--name", default=None, help="Your name as the notices give it (default: the From address).")
@click.option("--cafile", default="", help="Extra CA certificates (PEM) to trust for this server.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking.")
@json_option("Print the notice settings as JSON.")
@pass_library
def setup(state: LibraryContext, host: str, port: int, security: str, user: str, sender: str, name: str | None,
          cafile: str, password_stdin: bool, as_json: bool) -> None:
    """Send share notices by email through your SMTP server."""
    from .smtp import setup as setup_smtp

    password = _read_password(user, password_stdin)
    config = setup_smtp(state.library, host=host, port=port, user=user, sender=sender, password=password,
                        security=security, cafile=cafile, name=name)
    if as_json:
        echo_json(status_of(state.library))
        return
    login = f" as {config.user}" if config.user else ""
    click.echo(f"share notices on: email from {config.sender} through {config.host}:{config.port} "
               f"({config.security}){login}")


@notify.command("status")
@json_option("Print the notice settings as JSON.")
@pass_library
def status(state: LibraryContext, as_json: bool) -> None:
    """Whether share notices are sent, and how."""
    info = status_of(state.library)
    if as_json:
        echo_json(info)
        return
    smtp = info["smtp"]
    if not smtp["on"]:
        click.echo("share notices off: nothing is sent (printmanager share notify setup)")
        return
    login = f", user {smtp['user']}" if smtp["user"] else ""
    password = {True: "stored in the vault", False: "none", None: "vault locked"}[smtp["password_stored"]]
    click.echo(f"share notices on: email from {smtp['sender']} through {smtp['host']}:{smtp['port']} "
               f"({smtp['security']}{login}; password {password})")


@notify.command("off")
@click.option("--keep-password", is_flag=True, help="Keep the SMTP password in the vault.")
@json_option("Print the notice settings as JSON.")
@pass_library
def off(state: LibraryContext, keep_password: bool, as_json: bool) -> None:
    """Stop sending share notices (and forget the SMTP password)."""
    from .smtp import turn_off

    forgotten = turn_off(state.library, forget=not keep_password)
    if as_json:
        echo_json({**status_of(state.library), "password_deleted": forgotten})
        return
    click.echo("share notices off" + ("; SMTP password deleted from the vault" if forgotten else ""))


@click.group("share")
def _share_alone() -> None:
    """Sharing (only notices here: the share plugin is not loaded)."""


def attach(cli: click.Group) -> None:
    """Put ``notify`` under the ``share`` group (made here when the share plugin is not loaded)."""
    group = cli.commands.get("share")
    if not isinstance(group, click.Group):
        group = _share_alone
        cli.add_command(group)
    group.add_command(notify)
