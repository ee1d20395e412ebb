"""What the container holds, from one listing, and the checks that keep sync honest.

``sync now`` lists the user's prefix once per round (a no-change sync costs the
head's GET plus this listing: one request per 1,000 objects on S3, a directory
walk for a folder). Against it, before it says "up to date" or "pushed", it checks
that the repository is still there (config and key files), that the head did not
go back or vanish after this device saw it (both are rollbacks), that the head's
snapshot exists, and that every blob the snapshot needs exists with exactly the
size its plaintext implies. What this device can upload again it does; what it
cannot, it refuses with a message that says what happened and what to do.
``sync check`` reports the same conditions as problems (:func:`problems_for`).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
from typing import TYPE_CHECKING, Any

import attrs

from . import crypto
from . import format as fmt
from .backends.base import place
from .errors import ContainerDamaged, ContainerGone, IntegrityError, Rollback

if TYPE_CHECKING:  # pragma: no cover
    from .repository import Repository
    from .snapshot import Head


@attrs.frozen
class Inventory:
    """The objects of one user's repository, as one listing saw them."""

    config: bool
    #: key file names (the part after ``keys/``)
    keys: frozenset[str]
    #: blob id -> stored size
    blobs: dict[str, int]
    snapshots: frozenset[str]
    head: bool

    @classmethod
    def take(cls, repo: "Repository", *, expected: int = 0) -> "Inventory":
        """List everything under the user's prefix.

        :param expected: about how many objects there are (from the last sync). A large
            container on a backend that lists in pages (S3: 1,000 names a page) is listed in
            ``backend.listing_shards`` slices at once (blob ids are random hex, so ``data/0``
            … ``data/f`` are even), trading a few more requests for a fraction of the wait.
        """
        prefix = repo.prefix
        backend = repo.backend
        shards = int(getattr(backend, "listing_shards", 1) or 1)
        if shards > 1 and expected >= SHARDED_LISTING_FROM:
            listed = _sharded(backend, prefix, shards)
        else:
            listed = backend.list(prefix)
        config = head = False
        keys: set[str] = set()
        blobs: dict[str, int] = {}
        snapshots: set[str] = set()
        for info in listed:
            name = info.name[len(prefix) :]
            if name == fmt.CONFIG:
                config = True
            elif name == fmt.HEAD:
                head = True
            elif name.startswith(fmt.KEYS):
                keys.add(name[len(fmt.KEYS) :])
            elif name.startswith(fmt.DATA):
                blob = name.rsplit("/", 1)[-1]
                if fmt.is_object_id(blob) and name == fmt.blob_name(blob):
                    blobs[blob] = info.size
            elif name.startswith(fmt.SNAPSHOTS):
                snap = name[len(fmt.SNAPSHOTS) :]
                if fmt.is_object_id(snap):
                    snapshots.add(snap)
        return cls(config, frozenset(keys), blobs, frozenset(snapshots), head)

    def has_blob(self, blob: str, plaintext_size: int) -> bool:
        """The blob is stored, with exactly the size its plaintext gives (not a partial object)."""
        return self.blobs.get(blob) == crypto.ciphertext_size(plaintext_size)

    def missing(self, needed: dict[str, int]) -> dict[str, int]:
        """The blobs of ``needed`` (id -> plaintext size) that are absent or of the wrong size."""
        return {blob: size for blob, size in needed.items() if not self.has_blob(blob, size)}


#: containers with about this many objects or more are listed in slices at once
SHARDED_LISTING_FROM = 4000
#: listings in flight at once
LISTING_WORKERS = 8


def _sharded(backend: Any, prefix: str, shards: int) -> list[Any]:
    """Every object under ``prefix``, the blobs listed in ``shards`` hex slices in parallel."""
    digits = "0123456789abcdef"
    width = 1 if shards <= 16 else 2
    slices = [prefix + fmt.DATA + "".join(p) for p in itertools.product(digits, repeat=width)]
    parts = [*slices, prefix + fmt.KEYS, prefix + fmt.SNAPSHOTS]
    with cf.ThreadPoolExecutor(LISTING_WORKERS) as pool:
        listings = list(pool.map(lambda p: list(backend.list(p)), parts))
        singles = list(pool.map(backend.stat, [prefix + fmt.CONFIG, prefix + fmt.HEAD]))
    return [info for listing in listings for info in listing] + [i for i in singles if i is not None]


# -- the checks ---------------------------------------------------------------------


def _where(repo: "Repository") -> str:
    return f"user {repo.user} in {place(repo.backend.describe())}"


def gone_message(repo: "Repository") -> str:
    """What to tell the user when the repository vanished from the container."""
    return (
        f"the sync repository ({_where(repo)}) is gone: it was deleted, by `privacy delete` or "
        "`sync disable --delete-remote` on another device or by hand; nothing was uploaded. "
        "To start a new one and upload everything again, run `printmanager sync enable` with the same options"
    )


def require_repository(repo: "Repository", inv: Inventory) -> None:
    """The config and at least one key file are in the container.

    :raises ContainerGone: the config is gone (the repository was deleted).
    :raises ContainerDamaged: the config is there but no key file is.
    """
    if not inv.config:
        raise ContainerGone(gone_message(repo))
    if not inv.keys:
        raise ContainerDamaged(
            f"the sync repository ({_where(repo)}) has no key file left: nobody could open it; "
            "nothing was uploaded. Run `printmanager sync check`"
        )


def verify_published_keys(repo: "Repository", cached: dict[str, Any] | None) -> None:
    """Read the config and the key files this device knows, and compare them with what it
    opened the repository with (catches a repository deleted and created anew, or a
    config or key file replaced). Used before a push is published.

    :raises ContainerGone: the config is gone.
    :raises ContainerDamaged: the config differs, or none of the known key files is intact.
    """
    require_same_repository(repo)
    known = (cached or {}).get("keys") or {}
    if not known:
        return  # nothing cached to compare with (an old state): the listing saw key files
    for name, keyfile in known.items():
        raw = repo.backend.get_bytes(name)
        if raw is None:
            continue
        try:
            if fmt.parse_json_object(raw, "key file") == keyfile:
                return
        except IntegrityError:
            continue
    raise ContainerDamaged(
        f"the key files of the sync repository ({_where(repo)}) are gone or changed since this device "
        "opened it; nothing was published. Run `printmanager sync check`"
    )


def replaced_message(repo: "Repository", config: dict[str, Any] | None) -> str:
    """What to tell the user when the container's config is not the one this device opened."""
    if config is not None and config.get("repo_id") != repo.config.get("repo_id"):
        return (
            f"the container holds a different sync repository than the one this library synced with "
            f"({_where(repo)}: created anew, e.g. after another device deleted it); nothing was uploaded. "
            "To join it run `printmanager sync enable` with the same options (its passphrase is needed)"
        )
    return (
        f"the sync repository's config ({_where(repo)}) is damaged or was replaced; nothing was uploaded. "
        "Run `printmanager sync check`"
    )


def require_same_repository(repo: "Repository") -> None:
    """The container's config is the one this device opened the repository with.

    :raises ContainerGone: there is no config.
    :raises ContainerDamaged: another config (a repository created anew, or a damaged one).
    """
    raw = repo.backend.get_bytes(repo.prefix + fmt.CONFIG)
    if raw is None:
        raise ContainerGone(gone_message(repo))
    try:
        config = fmt.parse_json_object(raw, "repository config")
    except IntegrityError:
        config = None
    if config != repo.config:
        raise ContainerDamaged(replaced_message(repo, config))


def diagnose_unreadable_head(repo: "Repository", exc: IntegrityError) -> IntegrityError:
    """A head that does not decrypt: a replaced repository says so; otherwise the head is damaged."""
    try:
        require_same_repository(repo)
    except IntegrityError as other:  # ContainerDamaged
        return other
    except ContainerGone as gone:
        return IntegrityError(str(gone))
    return IntegrityError(f"the container's head is damaged ({exc}); run `printmanager sync check`")


def require_no_rollback(head: "Head | None", last: dict[str, Any]) -> None:
    """The head is not older than the newest one this device saw, and did not vanish after it.

    :raises Rollback: either happened.
    """
    seen = last.get("seq")
    if seen is None:
        return
    if head is None:
        raise Rollback(
            f"the container's head is gone though this device saw head number {seen} (a deleted head is a "
            "rollback too: the container may be damaged or served from an old copy); nothing was uploaded. "
            "Run `printmanager sync check`"
        )
    if head.seq < seen and head.snapshot != last.get("snapshot"):
        raise Rollback(
            f"the container's head went back to an older snapshot (head number {head.seq}, this device saw "
            f"{seen}: a rollback?); nothing was uploaded. Run `printmanager sync check`"
        )


def problems_for(
    repo: "Repository", head: "Head | None", last: dict[str, Any], cached_config: dict[str, Any] | None
) -> list[str]:
    """What ``sync now`` refuses on beyond missing objects (which ``check`` lists itself):
    another repository than the one this library synced with, a rolled-back or deleted head.

    :param last: the last snapshot this library synced (its sync state).
    :param cached_config: the repository config this library opened the repository with.
    """
    problems: list[str] = []
    if cached_config is not None and cached_config.get("repo_id") != repo.config.get("repo_id"):
        problems.append(
            "the container holds a different repository than the one this library synced with "
            "(created anew?); `sync now` refuses until you run `sync enable` again"
        )
        return problems  # the local history says nothing about this repository
    try:
        require_no_rollback(head, last)
    except Rollback as exc:
        problems.append(str(exc).split("; nothing was uploaded")[0])
    return problems
