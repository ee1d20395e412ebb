"""``printmanager ls``: files matching a query, as aligned columns, a template, or paths."""

from __future__ import annotations

import string
from typing import Any

import click

from ..errors import UsageError
from ..paths import printable
from ..problems import MODEL_KINDS
from ..records import FileRecord
from .context import LibraryContext, pass_library
from .look import colour_on, human_duration, human_size, plural, table
from .output import echo_json, json_option
from .queryargs import QueryCommand, query_argument

#: what ``--sort`` takes → the value of a file it orders by
SORTS: dict[str, Any] = {
    "path": lambda f: f.path,
    "name": lambda f: f.name.lower(),
    "size": lambda f: f.size_bytes,
    "triangles": lambda f: f.triangles,
    "format": lambda f: f.format or "",
    "date": lambda f: f.mtime_ns,
    "added": lambda f: f.added_at or "",
    "time": lambda f: f.slicer.print_time_s,
    "filament": lambda f: f.slicer.filament_g,
    "volume": lambda f: f.volume_mm3,
    "id": lambda f: f.id,
}


def _sorted(files: list[FileRecord], spec: str) -> list[FileRecord]:
    key = spec[:-1] if spec.endswith("-") else spec
    if key not in SORTS:
        raise UsageError(f"--sort: unknown field {key!r} (fields: {', '.join(SORTS)}; add '-' for descending)")
    value = SORTS[key]
    known = [f for f in files if value(f) is not None]
    unknown = [f for f in files if value(f) is None]  # unknown values last, either way
    return sorted(known, key=value, reverse=spec.endswith("-")) + unknown


def template_fields(f: FileRecord) -> dict[str, Any]:
    """What a ``--format`` template may name: the ``ls --json`` keys, the slicer facts
    flattened, and ``size``/``time`` for people."""
    data = f.as_json()
    data.update({k: v for k, v in f.slicer.as_dict().items()})
    data["size"] = human_size(f.size_bytes)
    data["time"] = human_duration(f.slicer.print_time_s)
    data["bbox"] = "x".join(f"{v:.1f}" for v in f.bbox_mm) if f.bbox_mm else ""
    data["tags"] = " ".join(f.tags)
    data["path"], data["name"] = printable(f.path), printable(f.name)
    return data


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        raise UsageError(f"--format: unknown field {{{key}}} (try {{name}} {{triangles}} {{size}} {{time}})")


def _render(template: str, f: FileRecord) -> str:
    values = _Blank({k: ("" if v is None else v) for k, v in template_fields(f).items()})
    try:
        return string.Formatter().vformat(template, (), values)
    except (ValueError, IndexError) as exc:
        raise UsageError(f"--format: {exc}") from None


def _facts(f: FileRecord) -> str:
    """The last column: mesh or sliced facts, or the error."""
    if f.error:
        return "ERROR: " + printable(f.error)
    parts = []
    if f.triangles is not None:
        parts.append(plural(f.triangles, "triangle"))
    if f.bbox_mm:
        parts.append("x".join(f"{v:.1f}" for v in f.bbox_mm) + " mm")
    s = f.slicer
    if s.print_time_s is not None:
        parts.append(human_duration(s.print_time_s))
    if s.filament_g is not None:
        parts.append(f"{s.filament_g:.1f} g")
    if s.layer_height_mm is not None:
        parts.append(f"{s.layer_height_mm:g} mm layers")
    if s.printer_model:
        parts.append(printable(s.printer_model))
    own = [k for k in f.problem_kinds if k not in MODEL_KINDS]  # the model's show in `show` and `problems`
    if own:
        parts.append("! " + ", ".join(own))
    return "  ".join(parts)


@click.command("ls", cls=QueryCommand)
@query_argument()
@json_option("Print a JSON array, one object per file.")
@click.option("--missing", is_flag=True, help="Include files no longer on disk.")
@click.option("--sort", "sort", metavar="FIELD[-]", help=f"Order by FIELD ({', '.join(SORTS)}); '-' descending.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="At most N files.")
@click.option("--format", "template", metavar="TEMPLATE", help="One line per file from TEMPLATE, e.g. '{name} {triangles}'.")
@click.option("--paths", "paths_only", is_flag=True, help="Only the paths, one a line (for xargs).")
@pass_library
def ls(state: LibraryContext, query: tuple[str, ...], as_json: bool, missing: bool, sort: str | None,
       limit: int | None, template: str | None, paths_only: bool) -> None:
    """List files matching QUERY (see docs/query.md)."""
    files = state.reader.files(" ".join(query), include_missing=missing,
                                limit=limit if sort is None else None)
    if sort is not None:
        files = _sorted(files, sort)
    if limit is not None:
        files = files[:limit]
    if as_json:
        echo_json([f.as_json() for f in files])
        return
    if paths_only:
        for f in files:
            click.echo(printable(f.path))
        return
    if template is not None:
        for f in files:
            click.echo(_render(template, f))
        return
    on = colour_on()
    rows = [[f"[{f.id}]", printable(f.format or "?"), human_size(f.size_bytes), printable(f.path), _facts(f)]
            for f in files]
    for line in table(rows, right=(0, 2), colours=(None, "cyan", "green", None, None), on=on):
        click.echo(line)
    if on:
        click.echo(plural(len(files), "file"))
