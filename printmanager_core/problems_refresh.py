"""Keeping the stored problems current after a scan (docs/problems.md).

:mod:`printmanager_core.problems` says what a problem is; this module decides
what to work out again and writes it. A refresh after a scan works out each read
file's own problems, then the problems between files and of models:

- when the catalogue changed little since the last refresh, only what those
  changes can alter: the changed files and models are in ``problem_log``
  (triggers, m038, whoever wrote), each file as it was, so the duplicate groups,
  the near-duplicate triangle counts and the models they touched are known, and
  only those are worked out again (the result is the same as working out
  everything: tests/test_problems_incremental.py);
- otherwise (a first scan, many changes, problem rows written by something
  else, such as an unusable sidecar's, a log from before m038) everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .clock import now_iso
from .paths import display_path, is_within
from .problems import (
    FILE_KINDS,
    MESH_FORMATS,
    MODEL_KINDS,
    SLICED_FORMATS,
    duplicate_of,
    duplicates,
    encoding_of,
    file_problems,
    in_content_group,
    missing_sources,
    model_problems,
    near_duplicates,
)
from .store.problems import ProblemRow

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store

#: above this many changed files, a refresh works out everything again (it costs about
#: as much as working out the changes, and reads less)
INCREMENTAL_LIMIT = 5_000

#: the file columns each kind between files is worked out from (beside the file's id)
_NEAR_COLUMNS = ("missing", "triangles", "bbox_x", "bbox_y", "bbox_z", "area_mm2", "geometry_hash", "path")
_SOURCE_COLUMNS = ("missing", "format", "name", "model_id", "path", "root_id")
_MODEL_COLUMNS = ("missing", "model_id", "format", "thumbnails")

#: a file as it was (before its first logged change) and as it is: None when it was
#: not there then (inserted since) or is not there now (deleted)
Change = tuple["dict[str, Any] | None", "dict[str, Any] | None"]


def refresh(
    store: "Store",
    *,
    changed_ids: Sequence[int] | None = None,
    gone_ids: Sequence[int] = (),
    empty_folders: Iterable[str] = (),
    walked: Iterable[str] = (),
    silence: Sequence[str] = (),
) -> None:
    """Bring the stored problems up to date after a scan.

    The problems are worked out first (reads only), then written in a few short
    transactions, one per kind of problem, so that a tag or a note written
    meanwhile waits for one step, never for the whole refresh (the problems are
    derived data: a step that did not happen is redone by the next scan).

    When nothing they are worked out from changed since the last complete refresh
    (:meth:`~printmanager_core.store.problems.ProblemsGateway.current`: files, models
    and problem rows, counted by triggers whoever writes), only the empty folders,
    which come from the walk, are replaced.

    :param changed_ids: files the scan read (their own problems are recomputed);
        None recomputes every file's.
    :param gone_ids: files that went missing (their problems are forgotten).
    :param empty_folders: the empty folders the walk met.
    :param walked: the folders walked (their empty-folder problems are replaced).
    :param silence: kinds whose severity is ``off`` (left out of ``files.problem_kinds``).
    """
    at = now_iso()
    # the empty folders come from the walk, not the catalogue (they are about folders,
    # so no file's problem_kinds depends on them)
    empties = list(empty_folders)
    with store.transaction():
        current = store.problems.current()
        written_by_others = not store.problems.rows_as_refreshed()
        for folder in _outermost(list(walked)):
            inside = [ProblemRow("empty-folder", path=display_path(p), detail="nothing in it")
                      for p in empties if is_within(p, folder)]
            store.problems.replace_kinds(("empty-folder",), inside, at, under=display_path(folder))
        if current:  # nothing else to work out: still current, with the empty folders just written
            store.problems.mark_current(store.problems.changes())
    if current:
        return
    seen = store.problems.changes()  # before the log: a change after it is worked out next time
    trusted, upto, files = store.problems.log_state()
    if trusted and not written_by_others and changed_ids is not None and files <= INCREMENTAL_LIMIT:
        _refresh_changes(store, changed_ids, gone_ids, at, silence, seen, upto)
    else:
        _refresh_from_catalogue(store, changed_ids, gone_ids, at, silence, seen, upto)


def _refresh_from_catalogue(store: "Store", changed_ids: Sequence[int] | None, gone_ids: Sequence[int],
                            at: str, silence: Sequence[str], seen: int, upto: int) -> None:
    """Every problem worked out from the catalogue (all but the empty folders), then noted
    as current as of the count of changes ``seen`` before it began and the log up to
    ``upto`` forgotten (a change meanwhile is worked out by the next refresh)."""
    facts = store.problems.file_facts(changed_ids)
    ids = [r["id"] for r in facts] if changed_ids is not None else None
    rows = [p for r in facts for p in file_problems(r)]
    with store.transaction():
        if ids is None:
            store.problems.replace_kinds(FILE_KINDS, rows, at)
        else:
            store.problems.replace_for_files(ids, FILE_KINDS, rows, at)
    with store.transaction():
        store.problems.forget_files(list(gone_ids))
        store.problems.forget_missing()
    for kinds, found in ((("duplicate",), duplicates), (("near-duplicate",), near_duplicates),
                         (("missing-source",), missing_sources), (MODEL_KINDS, model_problems)):
        worked_out = found(store)
        with store.transaction():
            store.problems.replace_kinds(kinds, worked_out, at)
    with store.transaction():
        store.problems.sync_kinds(list(silence))
        store.problems.end_log(upto)
        store.problems.mark_current(seen)


def _refresh_changes(store: "Store", changed_ids: Sequence[int], gone_ids: Sequence[int], at: str,
                     silence: Sequence[str], seen: int, upto: int) -> None:
    """Work out again only what the changes logged up to ``upto`` can alter (m038); the
    stored problems are then those :func:`_refresh_from_catalogue` would store."""
    before = store.problems.logged_files(upto)
    now = store.problems.files_now(before)
    changes: dict[int, Change] = {i: (b, now.get(i)) for i, b in before.items()}
    own = sorted(set(changed_ids) | {i for i, (_, n) in changes.items() if n is not None})
    facts = store.problems.file_facts(own)
    # worked out first (reads only), then written in one short transaction
    replace: list[tuple[Sequence[str], list[ProblemRow], dict[str, Any]]] = []
    dup_rows, dup_files = _duplicates_changed(store, changes, upto)
    replace.append((("duplicate",), dup_rows, {"file_ids": dup_files}))
    near = _changed(changes, _NEAR_COLUMNS)
    counts = {img["triangles"] for i in near for img in changes[i] if img and img["triangles"]}
    if counts:
        measures = store.problems.mesh_measures(sorted(counts))
        replace.append((("near-duplicate",), near_duplicates(store, measures),
                        {"file_ids": {m["id"] for m in measures} | set(near)}))
    sources = None
    if any(img and img["format"] in SLICED_FORMATS + MESH_FORMATS
           for i in _changed(changes, _SOURCE_COLUMNS) for img in changes[i]):
        sources = missing_sources(store)
    models = store.problems.logged_models(upto)
    models.update(img["model_id"] for i in _changed(changes, _MODEL_COLUMNS) for img in changes[i]
                  if img and img["model_id"] is not None)
    if models:
        replace.append((MODEL_KINDS, model_problems(store, sorted(models)), {"model_ids": models}))

    # forget_missing may drop a changed model's rows: its files are looked at too
    touched_files: set[int] = set(before) | set(gone_ids) | {r["id"] for r in facts}
    touched_models: set[int] = set(models)

    def note(touched: tuple[set[int], set[int]]) -> None:
        touched_files.update(touched[0])
        touched_models.update(touched[1])

    with store.transaction():
        store.problems.replace_for_files([r["id"] for r in facts], FILE_KINDS,
                                         [p for r in facts for p in file_problems(r)], at)
        store.problems.forget_files(list(gone_ids))
        store.problems.forget_missing()
        for kinds, rows, about in replace:
            note(store.problems.replace_about(kinds, rows, at, **about))
        if sources is not None:
            note(store.problems.replace_kinds(("missing-source",), sources, at))
        store.problems.sync_kinds(list(silence), file_ids=touched_files, model_ids=touched_models)
        store.problems.end_log(upto)
        store.problems.mark_current(seen)


def _changed(changes: dict[int, Change], columns: Sequence[str]) -> list[int]:
    """The files the changes inserted, deleted or changed one of ``columns`` of."""
    return [i for i, (b, n) in changes.items() if b is None or n is None or any(b[c] != n[c] for c in columns)]


def _duplicates_changed(store: "Store", changes: dict[int, Change], upto: int) -> tuple[list[ProblemRow], set[int]]:
    """The ``duplicate`` rows of every file whose row the changes can alter, and those files.

    A file's row depends only on the first file (by path, then id) of its
    same-content group and of its same-geometry group. So the files to work out
    again are the changed ones, and every file of a group whose first file is not
    the one it was (or is a changed file whose path or encoding changed); a group's
    first file that changed only its hash decides again for the group's files of
    its old or new hash.
    """
    affected: set[int] = set(changes)
    firsts: dict[str, dict[str, dict[str, Any]]] = {}
    for by in ("hash", "geometry_hash"):
        was_in: dict[str, list[dict[str, Any]]] = {}  # key → the changed files that were in its group
        keys: set[str] = set()
        for i, (was, now) in changes.items():
            if was is not None and _in_group(was, by):
                was_in.setdefault(was[by], []).append({**was, "id": i})
                keys.add(was[by])
            if now is not None and _in_group(now, by):
                keys.add(now[by])
        firsts[by] = new_firsts = store.problems.group_firsts(by, keys)
        # the first file before the changes: the first of the files they left alone, or
        # of the changed ones as they were; it is only needed where it may differ
        unsure = [k for k in keys if (new_firsts.get(k) or {}).get("id") in changes or k not in new_firsts
                  or any(_order(w) < _order(new_firsts[k]) for w in was_in.get(k, ()))]
        untouched = store.problems.group_firsts(by, unsure, skip_logged=upto)
        whole: list[str] = []  # groups whose every file is worked out again
        for key in keys:
            new = new_firsts.get(key)
            if key in unsure:
                candidates = [*was_in.get(key, ()), *([untouched[key]] if key in untouched else [])]
                old = min(candidates, key=_order) if candidates else None
            else:
                old = new
            if (old or {}).get("id") != (new or {}).get("id"):
                whole.append(key)
            elif new is not None and new["id"] in changes:
                was = changes[new["id"]][0]
                assert was is not None  # it was the group's first before the changes
                if was["path"] != new["path"] or (by == "geometry_hash" and encoding_of(was) != encoding_of(new)):
                    whole.append(key)
                elif by == "geometry_hash" and was["hash"] != new["hash"]:
                    hashes = [h for h in (was["hash"], new["hash"]) if h is not None]
                    affected.update(store.problems.group_members(by, [key], hashes=hashes))
        affected.update(store.problems.group_members(by, whole))
    facts = store.problems.duplicate_facts(affected)
    for by in ("hash", "geometry_hash"):
        more = {r[by] for r in facts if _in_group(r, by) and r[by] not in firsts[by]}
        firsts[by].update(store.problems.group_firsts(by, more))
    rows = []
    for r in facts:
        found = duplicate_of(r, firsts["hash"].get(r["hash"]) if in_content_group(r) else None,
                             firsts["geometry_hash"].get(r["geometry_hash"]) if r["geometry_hash"] else None)
        if found is not None:
            rows.append(found)
    return rows, affected


def _order(row: dict[str, Any]) -> tuple[str, int]:
    """A file's place in its group: by path, then id (as ``order by path, id``: Python
    compares strings by code point, as SQLite compares their UTF-8 bytes)."""
    return row["path"], row["id"]


def _in_group(row: dict[str, Any], by: str) -> bool:
    """Whether a file (as it is or was) belongs to a group of ``by`` (``hash`` or ``geometry_hash``)."""
    if by == "hash":
        return in_content_group(row)
    return not row.get("missing") and row["geometry_hash"] is not None


def refresh_models(store: "Store", *, silence: Sequence[str] = ()) -> None:
    """Recompute the model problems (a model's licence was set, say) and the files' kinds.

    They are worked out from the catalogue as it is, so when the stored problems were
    as the last refresh left them, they still describe it with the log (m038): the
    rows written here do not make the next refresh work out everything.
    """
    with store.transaction():
        as_refreshed = store.problems.rows_as_refreshed()
        store.problems.replace_kinds(MODEL_KINDS, model_problems(store), now_iso())
        store.problems.sync_kinds(list(silence))
        if as_refreshed:
            store.problems.note_rows_refreshed()


def _outermost(folders: list[str]) -> list[str]:
    return [f for f in folders if not any(o != f and is_within(f, o) for o in folders)]
