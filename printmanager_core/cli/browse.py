"""``printmanager ls``, ``models``, ``duplicates`` and ``show``."""

from __future__ import annotations

import click

from ..errors import NotFound
from ..records import FileRecord
from . import LibraryContext, echo_json, pass_library
from .queryargs import QueryCommand, query_argument


def _fmt_num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _file_line(f: FileRecord) -> str:
    bbox = "x".join(f"{v:.1f}" for v in f.bbox_mm) + " mm" if f.bbox_mm else ""
    tri = f"{f.triangles:,} tri" if f.triangles is not None else ""
    extra = f"  ERROR: {f.error}" if f.error else ""
    parts = [p for p in (f"[{f.id}]", f.format or "?", f.path, tri, bbox) if p]
    return "  ".join(parts) + extra


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
            tags = f"  #{' #'.join(m.tags)}" if m.tags else ""
            click.echo(f"[{m.id}] {m.name}  ({m.files} files, {m.kind})  {m.path}{tags}")

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
                click.echo(f"  [{f.id}] {f.path}")

    @cli.command("show")
    @click.argument("path_or_id")
    @click.option("--model", "is_model", is_flag=True, help="PATH_OR_ID names a model, not a file.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @pass_library
    def show(state: LibraryContext, path_or_id: str, is_model: bool, as_json: bool) -> None:
        """Show everything known about one file (or model, with --model)."""
        lib = state.library
        if is_model:
            m = lib.model(path_or_id)
            data = m.as_json()
            data["files"] = [f.as_json() for f in lib.model_files(m.id)]
        else:
            try:
                data = lib.file(path_or_id).as_json()
            except NotFound:
                try:
                    m = lib.model(path_or_id)
                except NotFound:
                    raise NotFound(f"no file or model {path_or_id} in the library") from None
                data = m.as_json()
                data["files"] = [f.as_json() for f in lib.model_files(m.id)]
        if as_json:
            echo_json(data)
            return
        for key, value in data.items():
            if key == "files":
                click.echo("files:")
                for f in value:
                    click.echo(f"  [{f['id']}] {f['path']}")
                continue
            if value in (None, "", [], {}, ()):
                continue
            click.echo(f"{key}: {value}")
