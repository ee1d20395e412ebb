"""Three-way merge of two devices' snapshots against their last common one.

The rules (also in ``docs/sync.md``):

* **Sets** (tags, a collection's models): every addition and every removal
  made on either side since the common snapshot is kept:
  ``(base ∩ local ∩ remote) ∪ (local − base) ∪ (remote − base)``.
* **Single values** (notes, a model's name, creator, source URL, licence, a
  collection's description): a side that did not change it takes the other's
  change; if both changed it differently, the value already in the container
  (pushed first) wins.
* **Files**: a side that did not change a file takes the other's change
  (added, replaced or deleted). If both changed it, content is never dropped:
  a present file beats a deletion, and this device's content beats the remote
  content (the remote version stays in the older snapshot).
* Entries under roots this device does not have are taken from the common
  snapshot as this device's view, so other devices' roots pass through.

Every rule is symmetric in outcome once both devices have synced, so the
devices converge.
"""

from __future__ import annotations

from typing import Any, Callable

SET_FIELDS = frozenset({"tags", "models"})


def merge_set(base: set[Any], local: set[Any], remote: set[Any]) -> set[Any]:
    """Keep both sides' additions and removals."""
    return (base & local & remote) | (local - base) | (remote - base)


def merge_value(base: Any, local: Any, remote: Any) -> Any:
    """One side's change wins over no change; on a true conflict the remote value wins."""
    if local == remote or remote == base:
        return local
    return remote


def merge_record(base: dict[str, Any] | None, local: dict[str, Any] | None, remote: dict[str, Any] | None) -> dict[str, Any] | None:
    """Merge field by field; an absent record counts as empty. Empty results are None."""
    b, l, r = base or {}, local or {}, remote or {}
    out: dict[str, Any] = {}
    for field in sorted(set(b) | set(l) | set(r)):
        if field in SET_FIELDS:
            value: Any = sorted(merge_set(set(b.get(field, [])), set(l.get(field, [])), set(r.get(field, []))))
            if value:
                out[field] = value
        else:
            value = merge_value(b.get(field), l.get(field), r.get(field))
            if value not in (None, ""):
                out[field] = value
    return out or None


def merge_entries(
    base: dict[str, Any],
    local: dict[str, Any],
    remote: dict[str, Any],
    merge: Callable[[Any, Any, Any], Any],
) -> dict[str, Any]:
    """Merge keyed maps with ``merge(base, local, remote)`` per key (None = absent)."""
    out = {}
    for key in sorted(set(base) | set(local) | set(remote)):
        value = merge(base.get(key), local.get(key), remote.get(key))
        if value is not None:
            out[key] = value
    return out


def merge_file(base: Any, local: Any, remote: Any) -> Any:
    """Merge one file entry (None = absent); see the module docstring."""
    if local == remote or remote == base:
        return local
    if local == base:
        return remote
    # Both sides changed it.
    return local if local is not None else remote


def merge_collection(base: Any, local: Any, remote: Any) -> Any:
    """Merge one collection; a collection deleted on one side and unchanged on the other goes."""
    if local is None and remote is None:
        return None
    if base is not None and (local is None or remote is None):
        other = remote if local is None else local
        if other == base:
            return None  # deleted on one side, untouched on the other
    merged = merge_record(base, local, remote) or {}
    merged.setdefault("description", "")
    merged.setdefault("models", [])
    return merged


def merge_meta(base: dict[str, Any], local: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
    """Merge the user-edited catalogue (``files``, ``models``, ``collections``)."""
    return {
        "files": merge_entries(base.get("files", {}), local.get("files", {}), remote.get("files", {}), merge_record),
        "models": merge_entries(base.get("models", {}), local.get("models", {}), remote.get("models", {}), _merge_model),
        "collections": merge_entries(
            base.get("collections", {}), local.get("collections", {}), remote.get("collections", {}), merge_collection
        ),
    }


def _merge_model(base: Any, local: Any, remote: Any) -> Any:
    if local == remote or remote == base:
        return local
    if local == base:
        return remote
    if local is None or remote is None:  # changed on one side, deleted on the other: keep it
        return local if local is not None else remote
    return merge_record(base, local, remote) or {}


def root_of(key: str) -> str:
    """The root key of a container path ``<root>/<rel>``."""
    return key.split("/", 1)[0]


def localize(local: dict[str, Any], base: dict[str, Any], local_roots: set[str]) -> dict[str, Any]:
    """This device's view: its own entries, plus the common snapshot's entries under other roots."""
    out = {k: v for k, v in local.items() if root_of(k) in local_roots}
    out.update({k: v for k, v in base.items() if root_of(k) not in local_roots})
    return out


def localize_meta(local: dict[str, Any], base: dict[str, Any], local_roots: set[str]) -> dict[str, Any]:
    """:func:`localize` for the user-edited catalogue, collections' members included."""
    out = {
        "files": localize(local.get("files", {}), base.get("files", {}), local_roots),
        "models": localize(local.get("models", {}), base.get("models", {}), local_roots),
        "collections": {},
    }
    base_cols = base.get("collections", {})
    for name, col in local.get("collections", {}).items():
        foreign = [m for m in base_cols.get(name, {}).get("models", []) if root_of(m) not in local_roots]
        own = [m for m in col.get("models", []) if root_of(m) in local_roots]
        out["collections"][name] = {**col, "models": sorted(set(own) | set(foreign))}
    return out
