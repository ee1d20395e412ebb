"""``printmanager ls``, ``models``, ``duplicates`` and ``show``.

Lines for people show names with control characters and undecodable bytes
escaped (``\\n``, ``\\xe9``): one file is always one line. ``--json`` is lossless.
"""

from __future__ import annotations

import click

from ..errors import NotFound
from ..paths import printable
from ..records import FileRecord, ModelRecord
from . import LibraryContext, echo_json, pass_library
from .queryargs import QueryCommand, query_argument


def _fmt_num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _file_line(f: FileRecord) -> str:
    bbox = "x".join(f"{v:.1f}" for v in f.bbox_mm) + " mm" if f.bbox_mm else ""
    tri = f"{f.triangles:,} tri" if f.triangles is not None else ""
    extra = f"  ERROR: {printable(f.error)}" if f.error else ""
    parts = [p for p in (f"[{f.id}]", printable(f.format or "?"), printable(f.path), tri, bbox) if p]
    return "  ".join(parts) + extra


def _model_line(m: ModelRecord) -> str:
    tags = f"  #{' #'.join(m.tags)}" if m.tags else ""
    return printable(f"[{m.id}] {m.name}  ({m.files} files, {m.kind})  {m.path}{tags}")


def register(cli: click.Group) -> None:
    """Add ``ls``, ``models``, ``duplicates`` and ``show`` to the CLI."""

    @cli.command("ls", cls=QueryCommand)
    @query_argument()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per file.")
    @click.option("--missing", is_flag=True, help="Include files no longer on disk.")
    @pass_library
    def ls(state: LibraryContext, query: tuple[str, ...], as_json: bool, missing: bool) -> None:
        """List files matching QUERY (see docs/query.md)."""
        files = state.library.files(" ".join(query), include_missing=missing)
        if as_json:
            echo_json([f.as_json() for f in files])
            return
        for f in files:
            click.echo(_file_line(f))

    @cli.command("models", cls=QueryCommand)
    @query_argument()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per model.")
    @pass_library
    def models(state: LibraryContext, query: tuple[str, ...], as_json: bool) -> None:
        """List models with a file matching QUERY."""
        found = state.library.models(" ".join(query))
        if as_json:
            echo_json([m.as_json() for m in found])
            return
        for m in found:
            click.echo(_model_line(m))

    @cli.command("duplicates")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array of groups.")
    @pass_library
    def duplicates(state: LibraryContext, as_json: bool) -> None:
        """List groups of files with the same content (same SHA-256)."""
        groups = state.library.duplicates()
        if as_json:
            echo_json([{"hash": g[0].hash, "size_bytes": g[0].size_bytes, "files": [f.as_json() for f in g]}
                       for g in groups])
            return
        for g in groups:
            click.echo(f"{g[0].hash}  {g[0].size_bytes} bytes, {len(g)} copies")
            for f in g:
                click.echo(f"  [{f.id}] {printable(f.path)}")

    @cli.command("show")
    @click.argument("path_or_id")
    @click.option("--model", "is_model", is_flag=True, help="PATH_OR_ID names a model, not a file.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
        if as_json:
            echo_json(data)
            return
        # people read the exact names, escaped; path_bytes is for programs
        data["path"] = record.path
        data.pop("path_bytes", None)
        if isinstance(record, FileRecord):
            data["name"] = record.name
            data["archive_path"] = record.archive_path
        for key, value in data.items():
            if key == "files":
                click.echo("files:")
                for f in files or ():
                    click.echo(f"  [{f.id}] {printable(f.path)}")
                continue
            if value in (None, "", [], {}, ()):
                continue
            click.echo(printable(f"{key}: {value}"))
