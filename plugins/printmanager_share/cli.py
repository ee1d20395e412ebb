"""``printmanager share ...``: a thin skin over the share API (:mod:`.api`, :mod:`.reader`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library

PASSWORD_ENV = "PRINTMANAGER_SHARE_PASSWORD"
CONSENT_TEXT = (
    "Sharing uploads the files you share, encrypted on this computer, to {where}.\n"
    "The storage host sees only encrypted objects (their sizes and count), never names or contents.\n"
    "Your consent is recorded in this library; `printmanager share disable` withdraws it.\n"
    "Enable sharing?"
)


def _password(confirm: bool) -> str:
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    return str(click.prompt("Share password", hide_input=True, confirmation_prompt=confirm, err=True))


@click.group("share")
def share() -> None:
    """End-to-end encrypted share links: create, list, log, revoke, open."""


@share.command("enable")
@click.option("--backend", help="folder or s3 (default: the sync container).")
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), help="folder backend: the folder.")
@click.option("--endpoint", help="s3 backend: the endpoint URL.")
@click.option("--bucket", help="s3 backend: the bucket.")
@click.option("--region", help="s3 backend: the region.")
@click.option("--credentials", "credentials", metavar="SOURCE",
              help="s3 backend: short-lived credentials scoped to you from SOURCE instead of stored keys "
                   "(account: the printmanager service's hosted storage; needs a subscription).")
@click.option("--gateway", help="The address links point at (e.g. https://share.example.org).")
@click.option("--i-consent", "i_consent", is_flag=True, help="I agree to upload encrypted shares to this container.")
@json_option("Print the status as JSON.")
@pass_library
def enable_cmd(state: LibraryContext, backend: str | None, path: Path | None, endpoint: str | None,
               bucket: str | None, region: str | None, credentials: str | None, gateway: str | None,
               i_consent: bool, as_json: bool) -> None:
    """Opt in to sharing: record your consent and where shares are stored."""
    from printmanager_sync.backends.base import place

    from .api import container_config, enable

    config: dict[str, Any] | None = None
    if credentials:
        if backend not in (None, "s3"):
            raise click.UsageError("--credentials is for the s3 backend")
        config = {"backend": "s3", "credentials": credentials,
                  **{k: v for k, v in (("endpoint", endpoint), ("bucket", bucket), ("region", region)) if v}}
    elif backend:
        config = {"backend": backend}
        if backend == "folder":
            if path is None:
                raise click.UsageError("--backend folder needs --path DIR")
            config["path"] = str(path.expanduser().resolve())
        elif backend == "s3":
            if not endpoint or not bucket:
                raise click.UsageError("--backend s3 needs --endpoint URL and --bucket NAME")
            config.update({"endpoint": endpoint, "bucket": bucket, **({"region": region} if region else {})})
    if not i_consent:
        where = place(config or container_config(state.library))
        try:
            i_consent = click.confirm(CONSENT_TEXT.format(where=where), default=False, err=True)
        except click.exceptions.Abort:
            i_consent = False
        if not i_consent:
            raise click.ClickException("sharing not enabled: it needs your consent (--i-consent, or answer yes)")
    result = enable(state.library, config, consent_given=True, gateway=gateway, source="cli")
    if as_json:
        echo_json(result)
        return
    click.echo(f"sharing enabled: shares go to {place(container_config(state.library))}; links point at "
               f"{result['gateway']}")


@share.command("disable")
@json_option("Print the status as JSON.")
@pass_library
def disable_cmd(state: LibraryContext, as_json: bool) -> None:
    """Withdraw consent: no new share is uploaded (existing links work until revoked or expired)."""
    from .api import disable

    result = disable(state.library, source="cli")
    if as_json:
        echo_json(result)
        return
    click.echo("sharing disabled; consent withdrawn (revoke existing shares with `printmanager share revoke ID`)")


@share.command("create")
@click.argument("target")
@click.option("--to", "to", multiple=True, help="A recipient's e-mail address (repeatable): one link each.")
@click.option("--list", "list_name", help="A distribution list: one link per member.")
@click.option("--expires", help="Expire after this long: 30m, 12h, 7d, 2w.")
@click.option("--max-opens", type=click.IntRange(1), help="How many times each link may be opened.")
@click.option("--password", "use_password", is_flag=True,
              help=f"Protect the links with a password (asked, or ${PASSWORD_ENV}); send it separately.")
@click.option("--message", default="", help="A note for the recipients (inside the encrypted manifest).")
@click.option("--no-thumbnails", is_flag=True, help="Share the files without their thumbnails.")
@json_option("Print the share and its links as JSON.")
@pass_library
def create_cmd(state: LibraryContext, target: str, to: tuple[str, ...], list_name: str | None, expires: str | None,
               max_opens: int | None, use_password: bool, message: str, no_thumbnails: bool, as_json: bool) -> None:
    """Share TARGET (file:ID or ID, model:ID, collection:NAME, query:TEXT) as an encrypted bundle.

    Prints one link per recipient; each carries the key after '#', so only the link opens the share.
    """
    from .api import create_share

    password = _password(confirm=True) if use_password else None
    result = create_share(state.library, target, to=to, list_name=list_name, expires=expires, max_opens=max_opens,
                          password=password, message=message, thumbnails=False if no_thumbnails else None)
    if as_json:
        echo_json(result.as_json())
        return
    s = result.share
    click.echo(f"share {s.id}: {s.title} ({s.file_count} files, {s.total_size} bytes)"
               + (f", expires {s.expires_at}" if s.expires_at else "")
               + (f", {s.max_opens} opens per link" if s.max_opens else ""))
    for link in result.links:
        click.echo(f"{link.recipient or '(anyone with the link)'}: {link.url}")


@share.command("ls")
@json_option("Print the shares as JSON.")
@pass_library
def ls_cmd(state: LibraryContext, as_json: bool) -> None:
    """List shares and their recipients (links are not kept: only their hashes)."""
    from .api import list_shares

    shares = list_shares(state.library)
    if as_json:
        echo_json([s.as_json() for s in shares])
        return
    if not shares:
        click.echo("no shares")
    for s in shares:
        recipients = ", ".join((link.recipient or "anyone") + (" (revoked)" if link.revoked_at else "")
                               for link in s.links)
        click.echo(f"{s.id[:12]}  {s.state:8}  {s.created_at[:16]}  {s.file_count} files  {s.title}  -> {recipients}")


@share.command("log")
@click.argument("share_id", required=False)
@json_option("Print the access log as JSON.")
@pass_library
def log_cmd(state: LibraryContext, share_id: str | None, as_json: bool) -> None:
    """Show the access log of a share (or all), fetching the gateway's new entries first."""
    from .api import share_log

    entries = share_log(state.library, share_id)
    if as_json:
        echo_json(entries)
        return
    if not entries:
        click.echo("no access recorded")
    for e in entries:
        click.echo(f"{e['at'][:19]}  {e['share_id'][:12]}  {e['recipient'] or 'anyone':24}  "
                   f"{e['action']:8}  {'allowed' if e['allowed'] else 'refused'}  {e['client']}")


@share.command("revoke")
@click.argument("share_id")
@click.option("--recipient", help="Revoke only this recipient's link (the others keep working).")
@click.option("--link", "link_id", type=int, help="Revoke only the link with this id.")
@json_option("Print the share as JSON.")
@pass_library
def revoke_cmd(state: LibraryContext, share_id: str, recipient: str | None, link_id: int | None, as_json: bool) -> None:
    """Revoke a share: its links stop working and its encrypted bundle is deleted (crypto-shredding)."""
    from .api import revoke

    result = revoke(state.library, share_id, recipient=recipient, link_id=link_id)
    if as_json:
        echo_json(result.as_json())
        return
    if recipient or link_id is not None:
        click.echo(f"revoked the link of {recipient or link_id} in share {result.id[:12]}")
    else:
        click.echo(f"revoked share {result.id[:12]}: its links stop working and its bundle is deleted")


@share.command("key")
@click.argument("address")
@click.argument("age_recipient")
@pass_library
def key_cmd(state: LibraryContext, address: str, age_recipient: str) -> None:
    """Remember a recipient's age public key (age1...): their shares are encrypted to it too."""
    from .api import set_recipient_key

    set_recipient_key(state.library, address, age_recipient)
    click.echo(f"{address}: shares are also encrypted to {age_recipient[:16]}...")


@share.command("status")
@json_option("Print the status as JSON.")
@pass_library
def status_cmd(state: LibraryContext, as_json: bool) -> None:
    """Whether sharing is on, where shares go, and the gateway (no network used)."""
    from .api import status

    result = status(state.library)
    if as_json:
        echo_json(result)
        return
    click.echo(f"sharing: {'on' if result['enabled'] else 'off'}; gateway {result['gateway']}; "
               f"{result['shares']} shares")


@share.command("open")
@click.argument("link")
@click.option("--to", "dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write the shared files to.")
@json_option("Print what was written as JSON.")
def open_cmd(link: str, dest: Path, as_json: bool) -> None:
    """Open a share link (the recipient's side): download, decrypt, check signature and hashes."""
    from .errors import ShareError
    from .reader import open_link, parse_link

    try:
        _base, _token, fields = parse_link(link)
        result = open_link(link, dest, password=(lambda: _password(confirm=False)) if "w" in fields else None)
    except ShareError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(result.as_json())
        return
    click.echo(f"{result.title}: {len(result.files)} files checked and written to {result.folder}; "
               f"signed by {result.signer}")


@share.command("gateway")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="JSON file: the container ({\"backend\": \"s3\", \"endpoint\", \"bucket\"} or folder).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8766, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@pass_library
def gateway_cmd(state: LibraryContext, config_path: Path, host: str, port: int) -> None:
    """Run the standalone share gateway over a container (no library needed, except with
    \"credentials\": the library signed in to the account they come from)."""
    import uvicorn

    from .gateway import create_gateway_app

    config = json.loads(config_path.read_text(encoding="utf-8"))
    library = state.library if config.get("credentials") and not config.get("library") else None
    app = create_gateway_app(config, library=library)
    uvicorn.run(app, host=host, port=port, log_level="warning")
