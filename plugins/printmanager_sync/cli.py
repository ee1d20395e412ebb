"""``printmanager sync ...``: a thin skin over the sync API (lifecycle, engine, rebuild, verify)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library

CONSENT_TEXT = (
    "Cloud sync sends your model files, thumbnails and a backup of this library's database to\n"
    "{where}.\nEverything is encrypted on this computer first: the storage provider cannot read\n"
    "file contents, names, paths or tags. Your consent is recorded in this library (when, which\n"
    "backend, which policy version); `printmanager sync disable` withdraws it at any time.\n"
    "Enable cloud sync?"
)


def _backend_options(func: Any) -> Any:
    options = [
        click.option("--backend", "backend", required=True, help="folder or s3 (or a plugin's backend)."),
        click.option("--path", "path", type=click.Path(file_okay=False, path_type=Path),
                     help="folder backend: the folder to sync to."),
        click.option("--endpoint", help="s3 backend: the endpoint URL (https://...)."),
        click.option("--bucket", help="s3 backend: the bucket."),
        click.option("--region", help="s3 backend: the region (R2: auto; default us-east-1)."),
        click.option("--user", "user", help="The user id: your folder in the container (default: random on enable, "
                     "detected on restore)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _config(backend: str, path: Path | None, endpoint: str | None, bucket: str | None, region: str | None,
            credentials: str | None = None) -> dict[str, Any]:
    from .backends import backend_registry

    registry = backend_registry()
    if backend not in registry:
        raise click.BadParameter(f"unknown backend {backend!r} (known: {', '.join(registry.names())})", param_hint="--backend")
    config: dict[str, Any] = {"backend": backend}
    if backend == "folder":
        if path is None:
            raise click.UsageError("--backend folder needs --path DIR")
        config["path"] = str(path.expanduser().resolve())
    elif backend == "s3":
        if credentials:  # the credential source may name the endpoint and bucket
            config.update({k: v for k, v in (("endpoint", endpoint), ("bucket", bucket)) if v}, credentials=credentials)
        elif not endpoint or not bucket:
            raise click.UsageError("--backend s3 needs --endpoint URL and --bucket NAME")
        else:
            config.update(endpoint=endpoint, bucket=bucket)
        if region:
            config["region"] = region
    else:
        for key, value in (("path", path), ("endpoint", endpoint), ("bucket", bucket), ("region", region)):
            if value:
                config[key] = str(value)
    return config


def _prompt(confirm: bool = False) -> Any:
    def ask() -> str:
        from .credentials import require_terminal

        require_terminal()  # no terminal: one line naming PRINTMANAGER_SYNC_PASSPHRASE, not getpass's warning
        return str(click.prompt("Sync passphrase", hide_input=True, confirmation_prompt=confirm, err=True))

    return ask


def _where(config: dict[str, Any]) -> str:
    from .backends.base import place

    return place(config)


@click.group("sync")
def sync() -> None:
    """Opt-in, end-to-end encrypted sync to a folder or S3-compatible storage."""


def _credentials_option(func: Any) -> Any:
    return click.option("--credentials", "credentials", metavar="SOURCE",
                        help="s3 backend: short-lived credentials scoped to you from SOURCE instead of stored keys "
                             "(account: the printmanager service's hosted storage; needs a subscription).")(func)


@sync.command("enable")
@_backend_options
@_credentials_option
@click.option("--i-consent", "i_consent", is_flag=True, help="I agree to send my encrypted files to this backend.")
@json_option("Print the status as JSON.")
@pass_library
def enable(state: LibraryContext, backend: str, path: Path | None, endpoint: str | None, bucket: str | None,
           region: str | None, user: str | None, credentials: str | None, i_consent: bool, as_json: bool) -> None:
    """Opt in to sync: record your consent and create (or join) your encrypted container."""
    from .lifecycle import enable as enable_sync

    config = _config(backend, path, endpoint, bucket, region, credentials)
    if not i_consent:
        try:
            i_consent = click.confirm(CONSENT_TEXT.format(where=_where(config)), default=False, err=True)
        except click.exceptions.Abort:
            i_consent = False
        if not i_consent:
            raise click.ClickException("sync not enabled: it needs your consent (--i-consent, or answer yes)")
    result = enable_sync(state.library, config, consent_given=True, prompt=_prompt(confirm=True), user=user,
                           source="cli")  # fmt: skip
    if as_json:
        echo_json(result)
        return
    click.echo(f"sync enabled: {_where(config)} (user {result['user']}); run `printmanager sync now` to sync")


@sync.command("now")
@json_option("Print the report as JSON.")
@pass_library
def now(state: LibraryContext, as_json: bool) -> None:
    """Sync now: pull other devices' changes, merge, and push this library's."""
    from .engine import sync_now

    report = sync_now(state.library, prompt=_prompt())
    if as_json:
        echo_json(report.as_json())
        return
    what = "pushed" if report.pushed else "up to date"
    click.echo(
        f"{what}: {report.files} files ({report.bytes} bytes); uploaded {report.uploaded_blobs} objects "
        f"({report.uploaded_bytes} bytes), downloaded {report.downloaded_files} files"
        + (" after merging another device's changes" if report.merged else "")
        + f" in {report.seconds:.2f}s"
    )
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)


@sync.command("status")
@json_option("Print the status as JSON.")
@pass_library
def status_cmd(state: LibraryContext, as_json: bool) -> None:
    """Show whether sync is on, where to, and the last sync (no network used)."""
    from .lifecycle import status

    result = status(state.library)
    if as_json:
        echo_json(result)
        return
    if not result["configured"]:
        click.echo("sync: off (never enabled)")
        return
    backend = result["backend"]
    where = backend.get("path") or f"{backend.get('endpoint')}/{backend.get('bucket')}"
    click.echo(f"sync: {'on' if result['enabled'] else 'off (consent withdrawn)'}")
    click.echo(f"backend: {backend.get('backend')} {where}")
    click.echo(f"user: {result['user']}")
    click.echo(f"last sync: {result['last_sync'] or 'never'}")
    if result["snapshot"]:
        click.echo(f"snapshot: {result['snapshot'][:16]} ({result['files']} files, {result['bytes']} bytes)")
    if result["pending_uploads"]:
        click.echo(f"unfinished uploads: {result['pending_uploads']} (resumed by the next sync)")
    if result["consent"]:
        c = result["consent"]
        click.echo(f"consent: {'given' if c['value'] else 'withdrawn'} {c['at']} (policy {c['policy_version']})")


@sync.command("check")
@click.option("--all", "all_blobs", is_flag=True, help="Download and verify every blob, not a sample.")
@json_option("Print the report as JSON.")
@pass_library
def check_cmd(state: LibraryContext, all_blobs: bool, as_json: bool) -> None:
    """Verify the container: keys, snapshots, sizes, and decrypt a sample (or all) of the blobs."""
    from .verify import check

    report = check(state.library, all_blobs=all_blobs, prompt=_prompt())
    if as_json:
        echo_json(report.as_json())
        if not report.ok:
            raise click.exceptions.Exit(1)
        return
    summary = (
        f"{report.snapshots} snapshots, {report.blobs} blobs ({report.referenced} referenced), "
        f"{report.checked} downloaded and verified"
    )
    if report.ok:
        click.echo(summary)
        return
    # Nothing on stdout before an error: the findings go to stderr with it.
    if not report.opened:
        raise click.ClickException(report.problems[0])
    click.echo(summary, err=True)
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    raise click.ClickException(f"the container has {len(report.problems)} problem(s)")


@sync.command("disable")
@click.option("--delete-remote", is_flag=True, help="Also delete everything this library stored in the container.")
@json_option("Print the result as JSON.")
@pass_library
def disable(state: LibraryContext, delete_remote: bool, as_json: bool) -> None:
    """Withdraw consent: sync stops at once; your local files stay as they are."""
    from .lifecycle import disable as disable_sync

    result = disable_sync(state.library, delete_remote=delete_remote, source="cli")
    if as_json:
        echo_json(result)
        return
    click.echo("sync disabled; consent withdrawn (local files unchanged)")
    if result["remote_objects_deleted"] is not None:
        click.echo(f"deleted {result['remote_objects_deleted']} objects from the container")
    else:
        click.echo("the encrypted copy in the container is kept; delete it with "
                   "`printmanager sync disable --delete-remote`")  # fmt: skip


@sync.command("restore")
@_backend_options
@_credentials_option
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the model files to (one folder per root).")
@json_option("Print the report as JSON.")
@pass_library
def restore_cmd(state: LibraryContext, backend: str, path: Path | None, endpoint: str | None, bucket: str | None,
                region: str | None, user: str | None, credentials: str | None, to: Path, as_json: bool) -> None:
    """Rebuild this library from a container: files under --to, thumbnails, the catalogue.

    Restoring connects to the backend at your request and leaves this library syncing with it.
    """
    from .rebuild import restore

    config = _config(backend, path, endpoint, bucket, region, credentials)
    report = restore(state.library, config, to, prompt=_prompt(), user=user, source="cli")
    if as_json:
        echo_json(report.as_json())
        return
    click.echo(
        f"restored {report.files} files ({report.bytes} bytes) and {report.thumbnails} thumbnails "
        f"under {to}; catalogue: {report.catalogue.get('files', 0)} files in {len(report.roots)} roots"
    )
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
