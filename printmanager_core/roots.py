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
from typing import Any

from .paths import archive_of, is_within, path_from_store, stored_path
from .settings import now_iso


def root_rows(db: Any) -> list[tuple[int, str]]:
    """Every root as (id, exact path), shortest path first."""
    rows = [(int(i), path_from_store(text, exact))
            for i, text, exact in db.execute("select id, path, path_bytes from roots")]
    return sorted(rows, key=lambda r: (len(r[1]), r[1]))


def containing_root(db: Any, path: str) -> tuple[int, str] | None:
    """The root ``path`` lies in (or is), if any."""
    for root_id, root in root_rows(db):
        if is_within(path, root):
            return root_id, root
    return None


def place(db: Any, path: Path) -> int:
    """Make ``path`` (absolute, resolved) part of the library; returns its root's id.

    Inside an existing root: that root. Otherwise a new root, into which every
    existing root below it is folded.
    """
    p = str(path)
    found = containing_root(db, p)
    if found is not None:
        return found[0]
    text, exact = stored_path(p)
    with db.conn:
        cur = db.execute("insert into roots (path, path_bytes, added_at) values (?, ?, ?)", [text, exact, now_iso()])
        new_id = int(cur.lastrowid or 0)
        for root_id, root in root_rows(db):
            if root_id != new_id and is_within(root, p):
                fold(db, root_id, new_id, p)
    return new_id


def fold_nested(db: Any) -> int:
    """Fold every root that lies inside another into the outermost one; how many were folded."""
    roots = root_rows(db)
    folded = 0
    for root_id, root in roots:
        outer = next((r for r in roots if r[0] != root_id and is_within(root, r[1]) and r[1] != root), None)
        if outer is not None:
            with db.conn:
                fold(db, root_id, outer[0], outer[1])
            folded += 1
    return folded


def fold(db: Any, nested_id: int, outer_id: int, outer: str) -> None:
    """Move root ``nested_id``'s files and models to root ``outer_id`` (path ``outer``)
    and regroup its files into models as a scan of ``outer`` would. Runs in the
    caller's transaction."""
    from .scan import model_id_for, model_of, refresh_models

    db.execute("update files set root_id = ? where root_id = ?", [outer_id, nested_id])
    db.execute("update models set root_id = ? where root_id = ?", [outer_id, nested_id])
    db.execute("delete from roots where id = ?", [nested_id])
    rows = db.execute(
        "select id, path, path_bytes, archive_path, model_id from files where root_id = ?", [outer_id]
    ).fetchall()
    models: dict[str, int] = {}
    for file_id, text, exact, archive_text, model_id in rows:
        path = path_from_store(text, exact)
        if not is_within(path, outer):
            continue
        archive = archive_of(path, text, archive_text) if archive_text else None
        mpath, name, kind = model_of(outer, archive or path, archive is not None)
        mid = models.get(mpath)
        if mid is None:
            mid = models[mpath] = model_id_for(db, outer_id, mpath, name, kind)
        if mid != model_id:
            db.execute("update files set model_id = ? where id = ?", [mid, file_id])
    refresh_models(db, outer_id)
