"""``printmanager organise``: move models into folders named by path templates (opt-in, journaled, undoable)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..paths import display_path, printable
from .context import LibraryContext, pass_library
from .look import human_size, plural
from .output import echo_json, json_option
from .queryargs import QueryCommand, query_argument

#: above this many models a real run asks first (``--yes`` skips the question)
CONFIRM_ABOVE = 20


def _bar() -> Any:
    """A progress bar on stderr when it is a terminal (rich loads only then), else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    console=Console(stderr=True), transient=True)


def _with_bar(work: Any, label: str) -> Any:
    bar = _bar()
    if bar is None:
        return work(None)
    with bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total, path: bar.update(task, completed=done, total=total))


def _print_plan(plan: Any) -> None:
    for m in plan.moves:
        if m.action == "same":
            continue
        src, dst = printable(display_path(m.src)), printable(display_path(m.dst))
        if m.action == "refused":
            click.echo(f"  refused  {src}: {printable(m.reason)}")
        else:
            what = "rename" if m.action == "case" else "move"
            click.echo(f"  {what:<7}  {src} -> {dst}  ({plural(len(m.files), 'file')}, {human_size(m.size)})")
    moving = plan.moving
    refused = [m for m in plan.moves if m.action == "refused"]
    same = [m for m in plan.moves if m.action == "same"]
    files = sum(len(m.files) for m in moving)
    click.echo(f"{plural(len(moving), 'model')} ({plural(files, 'file')}, {human_size(sum(m.size for m in moving))}) "
               f"to move under {printable(display_path(plan.root))}; {len(same)} in place, {len(refused)} refused")


@click.command("organise", cls=QueryCommand)
@query_argument()
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Organise under DIR (default: the setting organise.root); it becomes (part of) a root.")
@click.option("--dry-run", "-n", is_flag=True, help="Print the plan; move nothing.")
@click.option("--template", "template", metavar="TEMPLATE",
              help="One path template for every model (instead of the setting organise.paths).")
@click.option("--collisions", type=click.Choice(["suffix", "refuse"]), default="suffix", show_default=True,
              help="When a destination is taken: add ' (2)', or leave the model where it is. Never overwrites.")
@click.option("--resume", is_flag=True, help="Finish the interrupted batch (an organise or an undo).")
@click.option("--undo", is_flag=True, help="Reverse a batch exactly: QUERY is then the batch id (default: the newest).")
@click.option("--list", "list_batches", is_flag=True, help="List the batches in the journal.")
@click.option("--yes", "-y", is_flag=True, help=f"Do not ask before moving more than {CONFIRM_ABOVE} models.")
@json_option("Print the plan (--dry-run), the report of the run, or the batches (--list) as JSON.")
@pass_library
def organise(state: LibraryContext, query: tuple[str, ...], to: Path | None, dry_run: bool, template: str | None,
             collisions: str, resume: bool, undo: bool, list_batches: bool, yes: bool, as_json: bool) -> None:
    """Move the models matching QUERY into folders named by path templates (docs/organise.md).

    Opt-in: nothing moves unless you run this. --dry-run prints the plan. A real run
    writes a journal first, then moves file by file (copy, fsync, SHA-256 check,
    then the source removed; a rename on one filesystem), so a crash or a full disk
    loses nothing: --resume finishes, --undo reverses. Tags, notes, collections and
    the print log stay with the models.
    """
    if sum((resume, undo, list_batches)) > 1:
        raise click.UsageError("choose one of --resume, --undo and --list")
    lib = state.library
    if list_batches:
        batches = lib.organise_batches()
        if as_json:
            echo_json([b.as_json() for b in batches])
            return
        for b in batches:
            what = f"undo of {b.undoes}" if b.kind == "undo" else (b.query or "(every model)")
            click.echo(f"{b.id:>4}  {b.created_at}  {b.status:<8}  {b.done}/{b.steps} steps  {printable(what)}"
                       + (f"  error: {printable(b.error)}" if b.error else ""))
        return
    if resume or undo:
        if resume and query:
            raise click.UsageError("--resume takes no QUERY")
        batch = None
        if undo and query:
            if len(query) != 1 or not query[0].isdigit():
                raise click.UsageError("--undo takes a batch id (see --list)")
            batch = int(query[0])
        if resume:
            report = _with_bar(lambda p: lib.organise_resume(progress=p), "Organising")
        else:
            report = _with_bar(lambda p: lib.organise_undo(batch, progress=p), "Undoing")
        if as_json:
            echo_json(report.as_json())
            return
        what = f"undid batch {report.undoes}" if report.kind == "undo" else "finished"
        click.echo(f"batch {report.batch}: {what}: {plural(report.models, 'model')}, "
                   f"{plural(report.files, 'file')} moved ({human_size(report.bytes)})")
        return
    text = " ".join(query)
    templates = None
    if template is not None:
        from ..organise import PathFormat, Template

        templates = [PathFormat("", Template(template))]
    plan = lib.organise_plan(text, to=to, templates=templates, collisions=collisions)
    if dry_run:
        if as_json:
            echo_json(plan.as_json())
        else:
            _print_plan(plan)
        return
    if not as_json:
        _print_plan(plan)
    if len(plan.moving) > CONFIRM_ABOVE and not yes:
        click.confirm(f"move {len(plan.moving)} models?", abort=True, err=True)
    done_plan, report = _with_bar(
        lambda p: lib.organise(text, to=to, templates=templates, collisions=collisions, progress=p), "Organising")
    if as_json:
        echo_json({"plan": done_plan.as_json(), "report": report.as_json()})
        return
    if not report.batch:
        click.echo("nothing to move")
        return
    click.echo(f"batch {report.batch}: {plural(report.models, 'model')}, {plural(report.files, 'file')} moved "
               f"({human_size(report.bytes)}; {report.renamed} renamed, {report.copied} copied). "
               f"Undo: printmanager organise --undo {report.batch}")
