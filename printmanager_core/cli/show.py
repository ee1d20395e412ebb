"""``printmanager show``: everything known about one file or model."""

from __future__ import annotations

import click

from ..errors import NotFound
from ..paths import printable
from ..records import FileRecord, ModelRecord
from .context import LibraryContext, pass_library
from .look import colour_on, human_duration, human_size, paint, plural, table
from .output import echo_json, json_option
from .problems_cmd import SEVERITY_COLOURS


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
    on = colour_on()
    facts = _file_facts(record) if isinstance(record, FileRecord) else _model_facts(record)
    width = max(len(label) for label, _ in facts)
    click.echo(paint(printable(record.name), None, on, bold=True))
    for label, value in facts:
        if value in (None, "", [], (), {}):
            continue
        click.echo(f"  {paint(label.ljust(width), None, on, dim=True)}  {printable(str(value))}")
    if isinstance(record, FileRecord):
        found = [p for p in lib.problems() if p.file_id == record.id or (p.file_id is None and p.model_id == record.model_id)]
        if found:
            click.echo(paint(plural(len(found), "problem"), "yellow", on, bold=True))
            for p in found:
                click.echo(f"  {paint(p.severity.ljust(7), SEVERITY_COLOURS.get(p.severity), on)}  {p.kind}  "
                           f"{printable(p.detail)}")
    for key, title in (("sliced_from", "sliced from"), ("gcodes", "G-code sliced from it")):
        links = data.get(key) or []
        if links:
            click.echo(paint(title + ":", None, on, bold=True))
            for link in links:
                click.echo(printable(f"  [{link['id']}] {link['path']} ({link['how']})"))
    if prints:
        ok = sum(1 for p in prints if p.result == "ok")
        click.echo(paint(f"print log: printed {plural(ok, 'time')}", None, on, bold=True))
        for pr in prints[:10]:
            click.echo(printable(f"  [{pr.id}] {pr.printed_at[:16].replace('T', ' ')} {pr.result}"
                                 + (f" on {pr.printer}" if pr.printer else "")))
    if files is not None:
        click.echo(paint(plural(len(files), "file"), None, on, bold=True))
        rows = [[f"[{f.id}]", printable(f.format or "?"), human_size(f.size_bytes), printable(f.name)] for f in files]
        for line in table(rows, right=(0, 2), colours=(None, "cyan", "green", None), on=on):
            click.echo("  " + line)


def _file_facts(f: FileRecord) -> list[tuple[str, object]]:
    s = f.slicer
    bbox = " x ".join(f"{v:.1f}" for v in f.bbox_mm) + " mm" if f.bbox_mm else None
    return [
        ("id", f.id), ("path", f.path), ("model", f"{f.model} [{f.model_id}]" if f.model else None),
        ("format", f.format), ("size", f"{human_size(f.size_bytes)} ({plural(f.size_bytes, 'byte')})"
                               if f.size_bytes is not None else None),
        ("triangles", f"{f.triangles:,}" if f.triangles is not None else None), ("box", bbox),
        ("volume", f"{f.volume_mm3 / 1000:,.2f} cm³" if f.volume_mm3 is not None else None),
        ("area", f"{f.area_mm2 / 100:,.2f} cm²" if f.area_mm2 is not None else None),
        ("watertight", {True: "yes", False: "no", None: None}[f.watertight]),
        ("print time", human_duration(s.print_time_s) or None),
        ("filament", " / ".join(x for x in (f"{s.filament_g:.1f} g" if s.filament_g is not None else "",
                                            f"{s.filament_mm / 1000:.2f} m" if s.filament_mm is not None else "")
                                if x) or None),
        ("layer", f"{s.layer_height_mm:g} mm" if s.layer_height_mm is not None else None),
        ("printer", s.printer_model), ("slicer", s.slicer),
        ("thumbnails", f.thumbnails or None), ("thumbnail", f.thumbnail),
        ("tags", " ".join("#" + t for t in (*f.tags, *f.model_tags))), ("notes", f.notes),
        ("notes from reader", "; ".join(f.problems)), ("error", f.error),
        ("hash", f.hash), ("added", f.added_at), ("missing", "yes" if f.missing else None),
    ]


def _model_facts(m: ModelRecord) -> list[tuple[str, object]]:
    return [
        ("id", m.id), ("path", m.path), ("kind", m.kind), ("creator", m.creator), ("licence", m.licence),
        ("source", m.source_url), ("tags", " ".join("#" + t for t in m.tags)),
        ("collections", ", ".join(m.collections)), ("notes", m.notes), ("missing", "yes" if m.missing else None),
    ]
