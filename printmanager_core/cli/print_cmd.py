"""``printmanager print``: the print log (``log``, ``history``, ``rm``)."""

from __future__ import annotations

import click

from ..paths import printable
from ..records import PRINT_RESULTS, PrintRecord
from .context import LibraryContext, pass_library
from .output import echo_json, json_option


@click.group("print")
def print_group() -> None:
    """The print log: what was printed, when, on which printer, how it went."""


def _line(p: PrintRecord) -> str:
    parts = [f"[{p.id}]", p.printed_at[:16].replace("T", " "), p.result]
    if p.printer:
        parts.append(f"on {p.printer}")
    if p.file_id is not None:
        parts.append(f"file {p.file_id}")
    if p.duration_s:
        parts.append(f"{p.duration_s / 60:.0f} min")
    if p.source != "manual":
        parts.append(f"({p.source})")
    if p.note:
        parts.append(f"— {p.note}")
    return printable(" ".join(parts))


@print_group.command("log")
@click.argument("target")
@click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path (default: a file, else a model).")
@click.option("--printer", help="The printer it was printed on.")
@click.option("--result", type=click.Choice(PRINT_RESULTS), default="ok", show_default=True,
              help="How the print went; only ok counts for is:printed.")
@click.option("--note", default="", help="A note on this print.")
@click.option("--at", "printed_at", help="When (ISO date or time, UTC; default now).")
@json_option("Print the new entry as JSON.")
@pass_library
def log_cmd(state: LibraryContext, target: str, is_model: bool, printer: str | None, result: str, note: str,
            printed_at: str | None, as_json: bool) -> None:
    """Log a print of a file (or model) TARGET."""
    entry = state.library.log_print(target, model=is_model, printer=printer, result=result, note=note,
                                    printed_at=printed_at)
    assert entry is not None  # a manual entry has no job id, so it is always added
    if as_json:
        echo_json(entry.as_json())
        return
    click.echo(f"logged print {entry.id} of model {entry.model_id}: {entry.result}")


@print_group.command("history")
@click.argument("target")
@click.option("--model", "is_model", is_flag=True, help="TARGET is a model id or path.")
@json_option("Print the model and its prints as JSON.")
@pass_library
def history_cmd(state: LibraryContext, target: str, is_model: bool, as_json: bool) -> None:
    """Every print of the model TARGET names (a file names its model), newest first."""
    model, prints = state.library.print_history(target, model=is_model)
    if as_json:
        echo_json({"model": {"id": model.id, "name": model.name}, "prints": [p.as_json() for p in prints]})
        return
    ok = sum(1 for p in prints if p.result == "ok")
    click.echo(printable(f"{model.name} (model {model.id}): printed {ok} time{'s' if ok != 1 else ''}"))
    for p in prints:
        click.echo(f"  {_line(p)}")


@print_group.command("rm")
@click.argument("print_id", type=int)
@json_option("Print the deleted entry as JSON.")
@pass_library
def rm_cmd(state: LibraryContext, print_id: int, as_json: bool) -> None:
    """Delete the print-log entry PRINT_ID."""
    entry = state.library.delete_print(print_id)
    if as_json:
        echo_json(entry.as_json())
        return
    click.echo(f"deleted print {entry.id}")
