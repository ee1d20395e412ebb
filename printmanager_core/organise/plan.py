"""The plan of an organise run: where each model would go, and which files go with it.

Nothing here changes the disk or the catalogue: :func:`make_plan` reads the
catalogue and looks at the folders (``organise --dry-run`` prints what it gives).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import attrs

from ..errors import UsageError
from ..grouping import PART_FOLDERS, model_of
from ..paths import is_within, path_json, printable
from ..records import ModelRecord
from .templates import PathFormat, Template, parse_paths, safe_name

if TYPE_CHECKING:  # pragma: no cover
    from ..library import Library

#: what ``collisions`` takes: ``suffix`` (``Name (2)``) or ``refuse`` (the model stays)
COLLISIONS = ("suffix", "refuse")
#: the highest suffix tried before a model is refused
MAX_SUFFIX = 99


@attrs.frozen
class ModelMove:
    """Where one model goes.

    :ivar action: ``move``, ``case`` (only the case of its name changes, on a
        filesystem that ignores case: renamed through a temporary name), ``same``
        (already there) or ``refused`` (``reason`` says why; nothing of it moves).
    :ivar files: (source, destination) of every file on disk that moves: the
        model's files and everything else in its folders (sidecars, pictures...).
    :ivar dirs: (source, destination) of the empty folders of the model.
    """

    model_id: int
    name: str
    kind: str
    src: str
    dst: str
    new_kind: str
    action: str
    src_root: str
    template: str = ""
    reason: str = ""
    files: tuple[tuple[str, str], ...] = ()
    dirs: tuple[tuple[str, str], ...] = ()
    size: int = 0

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of one planned move (``organise --dry-run --json``)."""
        return {"model_id": self.model_id, "name": self.name, "action": self.action, "reason": self.reason,
                "template": self.template, **path_json(self.src, "from"), **path_json(self.dst, "to"),
                "files": len(self.files), "bytes": self.size}  # fmt: skip


@attrs.frozen
class Plan:
    """Where every model a query selects would go, under ``root``."""

    query: str
    root: str
    moves: tuple[ModelMove, ...]

    @property
    def moving(self) -> list[ModelMove]:
        """The models that move (``move`` and ``case``)."""
        return [m for m in self.moves if m.action in ("move", "case")]

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of a plan."""
        moving = self.moving
        return {"query": self.query, **path_json(self.root, "root"), "models": len(moving),
                "files": sum(len(m.files) for m in moving), "bytes": sum(m.size for m in moving),
                "moves": [m.as_json() for m in self.moves]}  # fmt: skip


def resolve_root(lib: "Library", to: str | os.PathLike[str] | None) -> Path:
    """The folder models are organised under: ``to``, else the setting ``organise.root``.

    :raises UsageError: neither is given.
    """
    chosen = os.fspath(to) if to else str(lib.settings.get("organise.root") or "")
    if not chosen:
        raise UsageError("choose where models go: --to DIR, or printmanager settings set organise.root DIR")
    return Path(chosen).expanduser().resolve()


def _listed_case(parent: str, name: str) -> str:
    """``name`` as the folder ``parent`` spells it when the filesystem ignores case (else ``name``)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return name
    if name in names:
        return name
    folded = name.casefold()
    return next((n for n in sorted(names) if n.casefold() == folded), name)


def _existing_spelling(root: str, names: Sequence[str]) -> list[str]:
    """``names`` below ``root`` with each folder that exists spelled as on disk (case-insensitive filesystems)."""
    out, cur = [], root
    for name in names:
        candidate = os.path.join(cur, name)
        if os.path.lexists(candidate) and os.path.isdir(candidate):
            name = _listed_case(cur, name)
        out.append(name)
        cur = os.path.join(cur, name)
    return out


def _same_entry(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _contents(src: str, root: str) -> tuple[list[str], list[str], str]:
    """The files and empty folders of the folder model at ``src`` (its own and its part
    folders', not those of models in folders below it), and a reason it cannot move."""
    files, empty = [], []
    for dirpath, dirnames, filenames in os.walk(src):
        keep = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                return [], [], f"{printable(full)} is a symbolic link"
            if model_of(root, os.path.join(full, "x"), False)[0] == src:
                keep.append(d)
        dirnames[:] = sorted(keep)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            if not stat.S_ISREG(mode):
                return [], [], f"{printable(full)} is {'a symbolic link' if stat.S_ISLNK(mode) else 'not a regular file'}"
            files.append(full)
        if dirpath != src and not filenames and not os.listdir(dirpath):
            empty.append(dirpath)
    return files, empty, ""


def _suffixed(path: str, n: int, kind: str) -> str:
    head, name = os.path.split(path)
    if kind == "archive":
        stem, ext = os.path.splitext(name)
        return os.path.join(head, f"{stem} ({n}){ext}")
    return os.path.join(head, f"{name} ({n})")


def make_plan(lib: "Library", query: str = "", *, to: str | os.PathLike[str] | None = None,
              templates: Sequence[PathFormat] | None = None, collisions: str = "suffix") -> Plan:
    """Plan where the models matching ``query`` go (see :class:`Plan`); nothing changes.

    :param to: the folder models go under (default: the setting ``organise.root``).
    :param templates: the path formats (default: the setting ``organise.paths``).
    :param collisions: ``suffix`` (``Name (2)``...) or ``refuse`` when the place is taken.
    """
    if collisions not in COLLISIONS:
        raise UsageError(f"collisions takes {' or '.join(COLLISIONS)}, not {collisions!r}")
    root = str(resolve_root(lib, to))
    formats = list(templates) if templates is not None else parse_paths(lib.settings.get("organise.paths"))
    models = lib.models(query)
    chosen: dict[int, Template] = {}
    for fmt in formats:
        ids = None if not fmt.query else {m.id for m in lib.models(fmt.query)}
        for m in models:
            if m.id not in chosen and (ids is None or m.id in ids):
                chosen[m.id] = fmt.template
    roots = {r.id: r.path for r in lib.root_records()}
    claimed: list[str] = []  # the destinations of this plan so far
    moves = []
    for m in sorted(models, key=lambda m: (m.path, m.id)):
        moves.append(_plan_model(lib, m, chosen[m.id], root, roots, claimed, collisions))
    return Plan(query, root, tuple(moves))


def _plan_model(lib: "Library", m: ModelRecord, template: Template, root: str, roots: dict[int, str],
                claimed: list[str], collisions: str) -> ModelMove:
    src = m.path
    src_root = roots.get(m.root_id or 0, os.path.dirname(src))
    names = template.render(m) or [safe_name(m.name) or f"model-{m.id}"]
    base = dict(model_id=m.id, name=m.name, kind=m.kind, src=src, src_root=src_root, template=template.text)

    def refused(reason: str, dst: str = "") -> ModelMove:
        return ModelMove(**base, dst=dst, new_kind=m.kind, action="refused", reason=reason)

    if names[-1].lower() in PART_FOLDERS:
        return refused(f"its folder would be named {names[-1]!r}, a parts folder that belongs to the folder above")
    names = _existing_spelling(root, names[:-1]) + names[-1:]
    folder = os.path.join(root, *names)
    if m.kind == "archive":
        dst, new_kind = folder + os.path.splitext(src)[1], "archive"
    else:
        dst, new_kind = folder, "folder"
    if not os.path.lexists(src):
        return refused("it is not on disk", dst)

    def place_of(d: str) -> str:  # the file of a lone-file model inside its new folder
        return os.path.join(d, os.path.basename(src)) if m.kind == "file" else d

    if place_of(dst) == src:
        return ModelMove(**base, dst=dst, new_kind=m.kind, action="same")
    if m.kind != "file" and os.path.lexists(dst) and _same_entry(dst, src) and os.path.dirname(dst) == os.path.dirname(src):
        if os.path.basename(dst) == _listed_case(os.path.dirname(src), os.path.basename(src)):
            return ModelMove(**base, dst=dst, new_kind=m.kind, action="same")
        claimed.append(dst)
        files = [(src, dst)] if m.kind == "archive" else []
        return ModelMove(**base, dst=dst, new_kind=m.kind, action="case", files=tuple(files),
                         size=_size(src) if m.kind == "archive" else 0)

    def taken(d: str) -> bool:
        if os.path.lexists(d) or lib.store.organise.path_taken(d):
            return True
        return any(d == c or is_within(d, c) or is_within(c, d) for c in claimed)

    if taken(dst):
        if collisions == "refuse":
            return refused(f"{printable(dst)} is taken (never overwritten)", dst)
        for n in range(2, MAX_SUFFIX + 1):
            candidate = _suffixed(dst, n, new_kind)
            if not taken(candidate):
                dst = candidate
                break
        else:
            return refused(f"{printable(dst)} and its suffixed names up to ({MAX_SUFFIX}) are taken", dst)
    if m.kind == "folder":
        if is_within(dst, src):
            return refused("its destination lies inside its own folder", dst)
        found, empty, why = _contents(src, src_root)
        if why:
            return refused(why, dst)
        files = [(f, dst + f[len(src):]) for f in found]
        dirs = [(d, dst + d[len(src):]) for d in empty]
    else:
        if not os.path.isfile(src) or os.path.islink(src):
            return refused(f"{printable(src)} is not a regular file", dst)
        files, dirs = [(src, place_of(dst))], []
    claimed.append(dst)
    return ModelMove(**base, dst=dst, new_kind=new_kind, action="move", files=tuple(files), dirs=tuple(dirs),
                     size=sum(_size(f) for f, _ in files))


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
