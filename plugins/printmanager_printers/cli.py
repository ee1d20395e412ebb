"""``printmanager printer``: add printers (with consent), send them G-code, pull their job history."""

from __future__ import annotations

import sys
import time

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library
from printmanager_core.cli.output import json_text
from printmanager_core.errors import UsageError


@click.group("printer")
def printer() -> None:
    """Printers (OctoPrint, Moonraker…): opt-in per printer; none is contacted until you add it."""


@printer.command("add")
@click.argument("name")
@click.option("--kind", required=True, help="The printer's server: octoprint, moonraker, or a plugin's kind.")
@click.option("--url", required=True, help="The server's address, e.g. http://octopi.local.")
@click.option("--api-key-stdin", is_flag=True, help="Read the API key from standard input (else asked for).")
@click.option("--no-api-key", is_flag=True, help="The server needs no API key.")
@click.option("--yes", "consent", is_flag=True, help="Consent to contacting this printer without being asked.")
@json_option("Print the printer as JSON.")
@pass_library
def add(state: LibraryContext, name: str, kind: str, url: str, api_key_stdin: bool, no_api_key: bool,
        consent: bool, as_json: bool) -> None:
    """Add printer NAME: asks your consent to contact it, keeps its API key in the vault."""
    from .service import add_printer, consent_text

    text = consent_text(name, kind, url)
    if not consent:
        if not sys.stdin.isatty():
            raise UsageError(f"adding a printer needs your consent: {text} Run again with --yes to agree")
        click.echo(text, err=True)
        if not click.confirm("Allow?", default=False, err=True):
            raise UsageError("not added: consent was not given")
    api_key = None
    if api_key_stdin:
        api_key = sys.stdin.readline().strip() or None
    elif not no_api_key:
        if not sys.stdin.isatty():
            raise UsageError("give the API key with --api-key-stdin (or --no-api-key)")
        api_key = click.prompt("API key", hide_input=True, default="", show_default=False, err=True) or None
    added = add_printer(state.library, name, kind, url, api_key, source="cli")
    if as_json:
        echo_json(added.as_json())
        return
    click.echo(f"added printer {name} ({kind}, {url}); consent recorded at {added.consented_at}")


@printer.command("ls")
@json_option("Print the printers as JSON.")
@pass_library
def ls(state: LibraryContext, as_json: bool) -> None:
    """List the printers added (no printer is contacted)."""
    from .service import printers

    found = printers(state.library)
    if as_json:
        echo_json([p.as_json() for p in found])
        return
    for p in found:
        click.echo(f"{p.name}  {p.kind}  {p.url}  (consent {p.consented_at[:10]})")


@printer.command("rm")
@click.argument("name")
@json_option("Print the printer removed as JSON.")
@pass_library
def rm(state: LibraryContext, name: str, as_json: bool) -> None:
    """Withdraw consent for printer NAME and forget it (its API key leaves the vault)."""
    from .service import remove_printer

    gone = remove_printer(state.library, name, source="cli")
    if as_json:
        echo_json(gone.as_json())
        return
    click.echo(f"removed printer {name}; it is not contacted again")


@printer.command("upload")
@click.argument("name")
@click.argument("file")
@click.option("--start", is_flag=True, help="Start printing it once uploaded.")
@json_option("Print what was uploaded as JSON.")
@pass_library
def upload(state: LibraryContext, name: str, file: str, start: bool, as_json: bool) -> None:
    """Upload the catalogued G-code FILE (id or path) to printer NAME."""
    from .service import upload as do_upload

    done = do_upload(state.library, name, file, start=start)
    if as_json:
        echo_json(done)
        return
    click.echo(f"uploaded to {name} as {done['remote']}" + ("; printing" if start else ""))


@printer.command("start")
@click.argument("name")
@click.argument("remote")
@json_option("Print the printer's status afterwards as JSON.")
@pass_library
def start_cmd(state: LibraryContext, name: str, remote: str, as_json: bool) -> None:
    """Start printing REMOTE, a file already on printer NAME."""
    from .service import start, status

    start(state.library, name, remote)
    if as_json:
        echo_json(status(state.library, name).as_json())
        return
    click.echo(f"{name}: printing {remote}")


@printer.command("status")
@click.argument("name")
@click.option("--watch", is_flag=True, help="Keep showing the progress until the job ends.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between looks with --watch.")
@json_option("Print the status as JSON (with --watch: one JSON object a line).")
@pass_library
def status_cmd(state: LibraryContext, name: str, watch: bool, interval: float, as_json: bool) -> None:
    """What printer NAME is doing: state, file, progress, times."""
    from .service import status

    while True:
        now = status(state.library, name)
        if as_json and watch:
            click.echo(json_text(now.as_json()))
        elif as_json:
            echo_json(now.as_json())
        else:
            pct = "" if now.progress is None else f" {now.progress:.0%}"
            left = "" if not now.remaining_s else f", {now.remaining_s / 60:.0f} min left"
            click.echo(f"{name}: {now.state}{' ' + now.file if now.file else ''}{pct}{left}")
        if not watch or not now.printing:
            return
        time.sleep(max(0.2, interval))


@printer.command("sync-history")
@click.argument("name")
@json_option("Print what was logged and what was not catalogued as JSON.")
@pass_library
def sync_history_cmd(state: LibraryContext, name: str, as_json: bool) -> None:
    """Pull printer NAME's finished jobs into the print log (each job once)."""
    from .service import sync_history

    done = sync_history(state.library, name)
    if as_json:
        echo_json(done)
        return
    click.echo(f"{name}: {done['jobs']} job(s), {len(done['logged'])} logged, "
               f"{len(done['not_catalogued'])} not catalogued")
    for job in done["not_catalogued"]:
        click.echo(f"  not catalogued: {job['file']}")
