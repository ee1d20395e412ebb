"""Roots: the folders a library indexes. Roots never overlap.

* A folder inside an existing root is not a root of its own: scanning it
  rescans that part of its root (:func:`place`).
* A folder that holds existing roots becomes a root, and they are folded into it
  (:func:`fold`): their files and models — ids, tags, notes — move to the new
  root, and files are regrouped into models as a scan of the new root would.
* :func:`fold_nested` heals a library where roots overlap (made before this
  rule); every scan runs it first.
"""

from __future__ import annotations

from pathlib import Path

from .grouping import model_of
from .paths import is_within
from .records import RootRecord
from .store import Store


def containing_root(store: Store, path: str) -> RootRecord | None:
    """The root ``path`` lies in (or is), if any."""
    for root in store.roots.all():
        if is_within(path, root.path):
            return root
    return None


def place(store: Store, path: Path) -> int:
    """Make ``path`` (absolute, resolved) part of the library; returns its root's id.

    Inside an existing root: that root. Otherwise a new root, into which every
    existing root below it is folded.
    """
    p = str(path)
    found = containing_root(store, p)
    if found is not None:
        return found.id
    with store.transaction():
        new_id = store.roots.insert(p)
        for root in store.roots.all():
            if root.id != new_id and is_within(root.path, p):
                fold(store, root.id, new_id, p)
    return new_id


def fold_nested(store: Store) -> int:
    """Fold every root that lies inside another into the outermost one; how many were folded."""
    roots = store.roots.all()
    folded = 0
    for root in roots:
        outer = next((r for r in roots if r.id != root.id and is_within(root.path, r.path) and r.path != root.path),
                     None)
        if outer is not None:
            with store.transaction():
                fold(store, root.id, outer.id, outer.path)
            folded += 1
    return folded


def fold(store: Store, nested_id: int, outer_id: int, outer: str) -> None:
    """Move root ``nested_id``'s files and models to root ``outer_id`` (path ``outer``)
    and regroup its files into models as a scan of ``outer`` would. Runs in the
    caller's transaction."""
    store.files.move_root(nested_id, outer_id)
    store.models.move_root(nested_id, outer_id)
    store.roots.delete(nested_id)
    models: dict[str, int] = {}
    for file_id, path, archive, model_id in store.files.placement(outer_id):
        if not is_within(path, outer):
            continue
        mpath, name, kind = model_of(outer, archive or path, archive is not None)
        mid = models.get(mpath)
        if mid is None:
            mid = models[mpath] = store.models.id_for(outer_id, mpath, name, kind)
        if mid != model_id:
            store.files.set_model(file_id, mid)
    store.models.refresh_missing(outer_id)
