"""``printmanager show``: everything known about one file or model."""

from __future__ import annotations

import click

from ..errors import NotFound
from ..paths import printable
from ..records import FileRecord, ModelRecord
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.command("show")
@click.argument("path_or_id")
@click.option("--model", "is_model", is_flag=True, help="PATH_OR_ID names a model, not a file.")
@json_option("Print JSON.")
@pass_library
def show(state: LibraryContext, path_or_id: str, is_model: bool, as_json: bool) -> None:
    """Show everything known about one file (or model, with --model)."""
    lib = state.library
    record: FileRecord | ModelRecord
    files: list[FileRecord] | None = None
    if is_model:
        record = lib.model(path_or_id)
        files = lib.model_files(record.id)
    else:
        try:
            record = lib.file(path_or_id)
        except NotFound:
            try:
                record = lib.model(path_or_id)
            except NotFound:
                raise NotFound(f"no file or model {printable(path_or_id)} in the library") from None
            files = lib.model_files(record.id)
    data = record.as_json()
    if files is not None:
        data["files"] = [f.as_json() for f in files]
    if as_json:  # models carry printed_at/prints, files gcodes/sliced_from: the ls/models --json shapes
        echo_json(data)
        return
    # the print log of the model, and (for a file) its sliced ↔ source links (docs/printing.md)
    model_id = record.id if isinstance(record, ModelRecord) else record.model_id
    prints = lib.print_history(model_id, model=True)[1] if model_id is not None else []
    data["print_log"] = prints
    if isinstance(record, FileRecord):
        data["sliced_from"] = [{"id": f.id, "path": f.as_json()["path"], "how": how}
                               for f, how in lib.sliced_from(record.id)]
        data["gcodes"] = [{"id": f.id, "path": f.as_json()["path"], "how": how}
                          for f, how in lib.sliced_gcodes(record.id)]
    # people read the exact names, escaped; path_bytes is for programs
    data["path"] = record.path
    data.pop("path_bytes", None)
    if isinstance(record, FileRecord):
        data["name"] = record.name
        data["archive_path"] = record.archive_path
    for key, value in data.items():
        if key in ("sliced_from", "gcodes") and value:
            click.echo("sliced from:" if key == "sliced_from" else "G-code sliced from it:")
            for link in value:
                click.echo(printable(f"  [{link['id']}] {link['path']} ({link['how']})"))
            continue
        if key in ("printed_at", "prints"):
            continue  # the print log below says it
        if key == "print_log":
            if value:
                ok = sum(1 for p in prints if p.result == "ok")
                click.echo(f"print log: printed {ok} time{'s' if ok != 1 else ''}")
                for p in prints[:10]:
                    click.echo(printable(f"  [{p.id}] {p.printed_at[:16].replace('T', ' ')} {p.result}"
                                         + (f" on {p.printer}" if p.printer else "")))
            continue
        if key == "files":
            click.echo("files:")
            for f in files or ():
                click.echo(f"  [{f.id}] {printable(f.path)}")
            continue
        if value in (None, "", [], {}, ()):
            continue
        click.echo(printable(f"{key}: {value}"))
