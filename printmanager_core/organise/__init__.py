"""Organise on disk: move models into folders named by templates, journaled, resumable, undoable.

Opt-in and never automatic (docs/organise.md, "Organise on disk"):
:func:`plan` says where each model would go (``organise --dry-run``);
:func:`organise` writes the journal, then moves (:mod:`.mover`); :func:`resume`
finishes an interrupted batch and :func:`undo` reverses one. The catalogue's rows
(ids, tags, notes, collections, print log) follow their files in the same steps.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import NotFound, UsageError
from .mover import DiskFull, Mover, OrganiseError, OrganiseReport, running, start
from .mover import undo as _undo
from .plan import COLLISIONS, ModelMove, Plan, make_plan, resolve_root
from .templates import DEFAULT_TEMPLATE, PathFormat, Template, parse_paths

if TYPE_CHECKING:  # pragma: no cover
    from ..library import Library

Progress = Callable[[int, int, str], None]

__all__ = ["COLLISIONS", "DEFAULT_TEMPLATE", "DiskFull", "ModelMove", "OrganiseError", "OrganiseReport",
           "PathFormat", "Plan", "Template", "organise", "parse_paths", "plan", "resume", "undo"]


def _refuse_if_interrupted(lib: "Library") -> None:
    pending = running(lib)
    if pending is not None:
        what = "an undo" if pending.kind == "undo" else "organise"
        raise UsageError(f"batch {pending.id} ({what}) was interrupted: run printmanager organise --resume "
                         "(or --undo) first")


def plan(lib: "Library", query: str = "", *, to: str | os.PathLike[str] | None = None,
         templates: Sequence[PathFormat] | None = None, collisions: str = "suffix") -> Plan:
    """Where the models matching ``query`` would go (nothing changes); see :func:`.plan.make_plan`."""
    return make_plan(lib, query, to=to, templates=templates, collisions=collisions)


def organise(lib: "Library", query: str = "", *, to: str | os.PathLike[str] | None = None,
             templates: Sequence[PathFormat] | None = None, collisions: str = "suffix",
             progress: Progress | None = None) -> tuple[Plan, OrganiseReport]:
    """Move the models matching ``query`` where :func:`plan` says: the journal first, then each step.

    The destination folder is made if needed and becomes (part of) a root.

    :raises DiskFull: the destination filled up; nothing is lost (``resume`` or ``undo``).
    :raises OrganiseError: another step could not be done; the batch stops there.
    """
    _refuse_if_interrupted(lib)
    root = resolve_root(lib, to)
    chosen = make_plan(lib, query, to=root, templates=templates, collisions=collisions)
    if not chosen.moving:
        return chosen, OrganiseReport(0, "organise")
    root.mkdir(parents=True, exist_ok=True)
    root_id = lib.add_root(root)
    batch = start(lib, chosen, root_id)
    mover = Mover(lib, batch, progress)
    mover.kill_point("journal")
    return chosen, mover.run()


def resume(lib: "Library", progress: Progress | None = None) -> OrganiseReport:
    """Finish the interrupted batch (an organise or an undo) from where it stopped.

    :raises NotFound: no batch was interrupted.
    """
    pending = running(lib)
    if pending is None:
        raise NotFound("no organise batch was interrupted; nothing to resume")
    return Mover(lib, pending, progress).run()


def undo(lib: "Library", batch: int | None = None, progress: Progress | None = None) -> OrganiseReport:
    """Reverse a batch exactly (default: the newest not undone); see :func:`.mover.undo`."""
    return _undo(lib, batch, progress)
