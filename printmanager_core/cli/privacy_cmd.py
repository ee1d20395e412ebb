"""``printmanager privacy``: export, delete, retention, crash reports, share records."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.group("privacy")
def privacy() -> None:
    """Your data: export it, delete it, apply retention rules, see crash reports and shares."""


@privacy.command("export")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The zip file to write.")
@click.option("--include-cloud", is_flag=True, help="Also download your files from the sync container.")
@json_option("Print the manifest's file list as JSON.")
@pass_library
def export(state: LibraryContext, output: Path, include_cloud: bool, as_json: bool) -> None:
    """Write everything the library holds about you to a zip of JSON files with a manifest."""
    from ..privacy.export import export_library

    lib = state.library
    if include_cloud and not lib.settings.get("privacy.sync"):
        raise UsageError("--include-cloud needs cloud sync to be enabled; nothing of yours is in the cloud")
    result = export_library(lib, output, include_cloud=include_cloud)
    if as_json:
        echo_json(result.as_json())
        return
    files = result.manifest["files"]
    click.echo(f"wrote {result.path}: {len(files)} files (manifest.json describes each)")


@privacy.command("delete")
@click.option("--yes", is_flag=True, help="Really delete (required).")
@json_option("Print what was removed as JSON.")
@pass_library
def delete(state: LibraryContext, yes: bool, as_json: bool) -> None:
    """Delete the index, thumbnails, vault, analytics, crash reports and cloud copies (never your files)."""
    from ..privacy.delete import delete_library

    if not yes:
        raise click.UsageError("this deletes everything the library holds about you; add --yes to go ahead")
    lib = state.library
    directory = lib.directory
    report = delete_library(lib)
    if as_json:
        echo_json({"library": str(directory), **report.as_json()})
        return
    for item in report.items:
        if item.count:
            detail = f" ({item.detail})" if item.detail else ""
            click.echo(f"removed {item.count} {item.what}{detail} [{item.plugin}]")
    click.echo(f"{directory}: library deleted; your own files were not touched")
    for not_done in report.not_done:
        click.echo(f"could not {not_done.what}: {not_done.why} [{not_done.plugin}]")
    if report.left:
        click.echo(f"left in {directory} (not ours, not deleted): {', '.join(report.left)}", err=True)


@privacy.group("retention", invoke_without_command=True)
@json_option("Print the rules as JSON.")
@click.pass_context
def retention(ctx: click.Context, as_json: bool) -> None:
    """Rules deleting share logs, ended shares, crash reports and old analytics on schedule."""
    if ctx.invoked_subcommand is not None:
        return
    from ..privacy.retention import RULES

    settings = ctx.find_object(LibraryContext).library.settings
    rules = [{"rule": r.name, "setting": r.setting, "days": settings.get(r.setting),
              "deletes": r.description} for r in RULES]
    if as_json:
        echo_json(rules)
        return
    for r in rules:
        click.echo(f"{r['setting']} = {r['days']}: {r['deletes']}")


@retention.command("apply")
@json_option("Print rows removed per table as JSON.")
@pass_library
def retention_apply(state: LibraryContext, as_json: bool) -> None:
    """Delete every record a retention rule says has expired, now."""
    report = state.library.apply_retention()
    if as_json:
        echo_json(report.as_json())
        return
    removed = ", ".join(f"{n} {table}" for table, n in report.removed.items() if n) or "nothing had expired"
    click.echo(f"retention applied: {removed}")


@privacy.command("crash-reports")
@json_option("Print the full reports as JSON.")
@pass_library
def crash_reports(state: LibraryContext, as_json: bool) -> None:
    """List the crash reports kept in the library (paths and file names removed)."""
    from ..privacy.crash import CrashReports

    reports = CrashReports.for_library(state.library).list()
    if as_json:
        echo_json([r.as_json() for r in reports])
        return
    for r in reports:
        exc = r.report.get("exception", {})
        sent = f"sent {r.sent_at}" if r.sent_at else "not sent"
        click.echo(f"#{r.id} {r.created_at} {exc.get('type')}: {exc.get('message')} ({sent})")


@privacy.command("shares")
@json_option("Print every share record as JSON.")
@pass_library
def shares(state: LibraryContext, as_json: bool) -> None:
    """List share records: recipients, distribution lists, links and their access log."""
    from ..privacy.sharing import Shares

    data = Shares.for_library(state.library).as_json()
    if as_json:
        echo_json(data)
        return
    for link in data["links"]:
        to = link["recipient"] or link["distribution_list"] or "anyone with the link"
        state_ = "revoked" if link["revoked_at"] else f"expires {link['expires_at'] or 'never'}"
        uses = sum(1 for e in data["access_log"] if e["link_id"] == link["id"])
        click.echo(f"[{link['id']}] {link['target_kind']} {link['target_id']} → {to}; {state_}; {uses} use(s)")
    click.echo(f"{len(data['recipients'])} recipients, {len(data['distribution_lists'])} distribution lists")
