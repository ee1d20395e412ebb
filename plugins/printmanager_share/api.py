"""The share API: enable, create, list, log, revoke, and the retention/privacy parts.

    from printmanager_share import enable, create_share, list_shares, share_log, revoke, open_link

    enable(lib, {"backend": "folder", "path": "/mnt/nas/container"}, consent_given=True,
           gateway="https://share.example.org")
    result = create_share(lib, "model:12", to=["ana@example.org"], expires="7d", max_opens=3)
    result.links[0].url     # https://share.example.org/s/<token>#k=AGE-SECRET-KEY-1...
"""

from __future__ import annotations

import datetime as _dt
import re
import secrets
from typing import TYPE_CHECKING, Any, Iterable

import attrs

from printmanager_core.errors import NotFound, UsageError

from . import consent
from . import container as names
from .bundle import resolve_target, upload_bundle
from .errors import ShareError
from .keys import check_recipient, new_share_identity, sharer_keys, wrap_identity
from .model import RecipientLink, Share
from .store import BundleLinkRow, BundleRow, ShareStore

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from .container import ShareContainer

CONTAINER_KEY = "container"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _iso(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


def _now(now: _dt.datetime | None) -> _dt.datetime:
    return now or _dt.datetime.now(_dt.timezone.utc)


def parse_duration(text: str) -> _dt.timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"`` as a timedelta."""
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"a duration is a number and m, h, d or w (e.g. 7d), not {text!r}")
    return _dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


# -- the container ---------------------------------------------------------------------


def container_config(library: "Library") -> dict[str, Any]:
    """The container shares go to: the one given to :func:`enable`, else the sync container."""
    config = ShareStore(library.store.db).get(CONTAINER_KEY)
    if config:
        return dict(config)
    try:
        from printmanager_sync.state import SyncState

        sync = SyncState(library).config
    except ImportError:  # pragma: no cover - the share extra installs sync
        sync = None
    if sync:
        return {k: v for k, v in sync.items() if k != "user"}
    raise ShareError("no container for shares: run `printmanager share enable --backend folder|s3 ... --i-consent`")


def _open(library: "Library", config: dict[str, Any] | None = None) -> "ShareContainer":
    return names.open_container(config or container_config(library), library)


def enable(library: "Library", config: dict[str, Any] | None = None, *, consent_given: bool,
           gateway: str | None = None, source: str = "api") -> dict[str, Any]:
    """Opt in to sharing (recorded in the consent ledger), with the container (default: sync's).

    :param config: ``{"backend": "folder", "path": ...}`` or ``{"backend": "s3", "endpoint", "bucket", ...}``;
        ``{"backend": "s3", "credentials": "account"}``: the service's hosted storage with short-lived
        credentials scoped to the user's prefix (endpoint, bucket and prefix come from the source).
    :param gateway: the address links point at (the setting ``share.gateway``).
    :returns: :func:`status`.
    """
    if not consent_given:
        raise consent.SharingDisabled("sharing not enabled: it needs your consent (--i-consent)")
    store = ShareStore(library.store.db)
    if config:
        if not config.get("backend"):
            raise UsageError("choose a backend (--backend folder|s3)")
        box = names.open_container(config, library)  # a wrong config fails here, before consent is recorded
        try:
            if config.get("credentials"):
                # short-lived credentials from a source: it says where they are good for (endpoint,
                # bucket, the user's prefix); recorded, so the ledger names them and they are kept to
                described = box.backend.describe()
                config = {**config, **{k: described[k] for k in ("endpoint", "bucket", "region")
                                       if described.get(k) and not config.get(k)}, "prefix": box.prefix}
        finally:
            box.close()
        store.set(CONTAINER_KEY, dict(config))
    effective = container_config(library)
    if gateway:
        library.settings.set("share.gateway", gateway.rstrip("/"))
    consent.grant(library, effective, source=source)
    sharer_keys(library, create=True)
    return status(library)


def disable(library: "Library", *, source: str = "api") -> dict[str, Any]:
    """Withdraw consent: no new share is uploaded (existing links keep working until revoked)."""
    try:
        config = container_config(library)
    except ShareError:
        config = {}
    consent.withdraw(library, config, source=source)
    return status(library)


def status(library: "Library") -> dict[str, Any]:
    """Whether sharing is on, where shares go and the gateway (no network used)."""
    try:
        config = container_config(library)
    except ShareError:
        config = {}
    history = consent.history(library)
    return {
        "enabled": consent.is_enabled(library),
        "container": consent.ledger_detail(config),
        "gateway": library.settings.get("share.gateway"),
        "shares": len(ShareStore(library.store.db).bundles()),
        "consent": history[-1] if history else None,
    }


def set_recipient_key(library: "Library", address: str, age_recipient: str) -> None:
    """Remember a recipient's age public key: their bundles are also encrypted to it."""
    ShareStore(library.store.db).set_recipient_key(address.strip(), check_recipient(age_recipient))


# -- creating ------------------------------------------------------------------------------


@attrs.frozen
class ShareResult:
    """A new share and its links (each with its full URL: shown once, never stored)."""

    share: Share
    links: tuple[RecipientLink, ...]

    def as_json(self) -> dict[str, Any]:
        """A dict for ``--json`` output."""
        return {**self.share.as_json(), "links": [link.as_json() for link in self.links]}


def _recipients(library: "Library", to: Iterable[str], list_name: str | None) -> list[tuple[str | None, str | None]]:
    from printmanager_core.privacy.sharing import Shares

    out: list[tuple[str | None, str | None]] = [(a.strip(), None) for a in to if a.strip()]
    if list_name:
        dl = Shares.for_library(library).distribution_list(list_name)
        if not dl.members:
            raise UsageError(f"the distribution list {list_name!r} has no members")
        out += [(m, dl.name) for m in dl.members]
    seen, unique = set(), []
    for address, lname in out:
        if address not in seen:
            seen.add(address)
            unique.append((address, lname))
    return unique or [(None, None)]


def create_share(
    library: "Library",
    target: str,
    *,
    to: Iterable[str] = (),
    list_name: str | None = None,
    expires: str | _dt.timedelta | None = None,
    max_opens: int | None = None,
    password: str | None = None,
    message: str = "",
    gateway: str | None = None,
    thumbnails: bool | None = None,
    now: _dt.datetime | None = None,
) -> ShareResult:
    """Encrypt TARGET's files into a new bundle in the container and make one link per recipient.

    :param target: ``file:ID`` (or ID), ``model:ID``, ``collection:NAME`` or ``query:TEXT``.
    :param to: recipients' addresses; with ``list_name`` each list member gets their own link.
    :param expires: ``"7d"`` or a timedelta; None: no expiry.
    :param max_opens: how many times each link may be opened (None: no limit).
    :param password: the links carry the key wrapped with this password (scrypt), not the key.
    :param now: the moment of creation (tests inject a clock).
    """
    from printmanager_core.privacy.sharing import Shares

    import pyrage

    consent.require(library)
    if max_opens is not None and max_opens < 1:
        raise UsageError("--max-opens must be at least 1")
    if password is not None and not password:
        raise UsageError("an empty password protects nothing")
    made = _now(now)
    delta = parse_duration(expires) if isinstance(expires, str) else expires
    expires_at = made + delta if delta else None
    recipients = _recipients(library, to, list_name)
    resolved = resolve_target(library, target)
    keys = sharer_keys(library, create=True)
    assert keys is not None
    store = ShareStore(library.store.db)
    identity, share_recipient = new_share_identity()
    age_recipients = [pyrage.x25519.Recipient.from_str(share_recipient)]
    for address, _ in recipients:
        known = store.recipient_key(address) if address else None
        if known:
            age_recipients.append(pyrage.x25519.Recipient.from_str(known))
    config = container_config(library)
    gateway_url = (gateway or str(library.settings.get("share.gateway") or "")).rstrip("/")
    if not gateway_url.startswith(("http://", "https://")):
        raise UsageError(f"the share gateway {gateway_url!r} is not an http(s) address (setting share.gateway)")
    share_id = secrets.token_hex(16)
    tmp_dir = library.directory / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    box = _open(library, config)
    try:
        manifest = upload_bundle(
            library, box, resolved, share_id=share_id, recipients=age_recipients, keys=keys,
            created_at=_iso(made), expires_at=_iso(expires_at) if expires_at else None, message=message,
            thumbnails=bool(library.settings.get("share.thumbnails")) if thumbnails is None else thumbnails,
            tmp_dir=tmp_dir,
        )  # fmt: skip
        fragment = f"w={wrap_identity(identity, password)}" if password else f"k={identity}"
        shares = Shares.for_library(library)
        links: list[RecipientLink] = []
        rows: list[BundleLinkRow] = []
        refs: list[str] = []
        try:
            for address, lname in recipients:
                link = shares.share(resolved.kind, resolved.id, recipient=address, distribution_list=lname,
                                    expires_at=expires_at, at=made)
                assert link.token is not None
                ref = names.token_ref(link.token)
                box.write_token(ref, {
                    "v": 1, "share": share_id, "expires_at": _iso(expires_at) if expires_at else None,
                    "max_opens": max_opens, "opens": 0, "last_open_at": None, "password": password is not None,
                    "log_recipient": keys.log_recipient, "log_ip": bool(library.settings.get("share.log_ip")),
                    "revoked_at": None,
                })
                refs.append(ref)
                rows.append(BundleLinkRow(link.id, share_id, ref, address or "", None))
                links.append(RecipientLink(link.id, address, f"{gateway_url}/s/{link.token}#{fragment}", lname))
        except BaseException:
            box.delete_tokens(refs)
            for row in rows:
                shares.revoke(row.link_id, at=made)
            raise
        row = BundleRow(share_id, resolved.label, resolved.kind, resolved.label, _iso(made),
                        _iso(expires_at) if expires_at else None, max_opens, password is not None,
                        len(manifest["files"]), int(manifest["total_size"]),
                        len(manifest["files"]) + len(manifest["thumbnails"]) + 1, dict(config), None)
        try:
            store.add_bundle(row, rows)
        except BaseException:
            box.delete_tokens(refs)
            box.delete_bundle(share_id)
            raise
    except BaseException:
        box.delete_bundle(share_id)
        raise
    finally:
        box.close()
    share = _share(row, [attrs.evolve(link, url=None) for link in links])
    library.hook.share_created(library=library, share=share, links=list(links))
    return ShareResult(share, tuple(links))


# -- reading back ----------------------------------------------------------------------------


def _state(row: BundleRow, links: list[RecipientLink], at: str) -> str:
    if row.deleted_at:
        return "deleted"
    if row.expires_at and row.expires_at <= at:
        return "expired"
    if links and all(link.revoked_at for link in links):
        return "revoked"
    return "active"


def _share(row: BundleRow, links: list[RecipientLink], at: str | None = None) -> Share:
    return Share(row.id, row.title, row.target_kind, row.created_at, row.expires_at, row.max_opens, row.password,
                 row.file_count, row.total_size, _state(row, links, at or _iso(_now(None))), row.deleted_at,
                 tuple(links))


def _links(library: "Library", share_id: str) -> list[RecipientLink]:
    from printmanager_core.privacy.sharing import Shares

    shares = Shares.for_library(library)
    out = []
    for row in ShareStore(library.store.db).links(share_id):
        try:
            core = shares.link(row.link_id)
            out.append(RecipientLink(row.link_id, core.recipient, None, core.distribution_list,
                                     core.revoked_at or row.revoked_at))
        except NotFound:  # retention removed the core record: the link is long over
            out.append(RecipientLink(row.link_id, row.recipient or None, None, None, row.revoked_at or "ended"))
    return out


def find_share(library: "Library", share_id: str) -> BundleRow:
    """A share by id or a unique id prefix (at least 4 characters)."""
    store = ShareStore(library.store.db)
    text = share_id.strip().lower()
    row = store.bundle(text) if len(text) == 32 else None
    if row is not None:
        return row
    matches = store.bundle_ids_like(text) if len(text) >= 4 else []
    if len(matches) != 1:
        raise NotFound(f"no share {share_id!r}" if not matches else f"{share_id!r} names {len(matches)} shares")
    found = store.bundle(matches[0])
    assert found is not None
    return found


def list_shares(library: "Library", *, now: _dt.datetime | None = None) -> list[Share]:
    """Every share, oldest first, with its links (no URLs: the tokens are not kept)."""
    at = _iso(_now(now))
    return [_share(row, _links(library, row.id), at) for row in ShareStore(library.store.db).bundles()]


def get_share(library: "Library", share_id: str, *, now: _dt.datetime | None = None) -> Share:
    """One share by id (or unique prefix)."""
    row = find_share(library, share_id)
    return _share(row, _links(library, row.id), _iso(_now(now)))


def pull_log(library: "Library", share_id: str | None = None, box: "ShareContainer | None" = None) -> int:
    """Move the gateway's access-log entries from the container into the library; how many."""
    from printmanager_core.store.shares import SharesGateway

    store = ShareStore(library.store.db)
    rows = [find_share(library, share_id)] if share_id else [b for b in store.bundles() if not b.deleted_at]
    if not rows:
        return 0
    keys = sharer_keys(library, create=False)
    if keys is None:
        return 0
    own = box is None
    box = box or _open(library)
    gateway = SharesGateway(library.store.db)
    count = 0
    try:
        for row in rows:
            for entry in box.take_log(row.id, keys.log_identity):
                link = store.link_by_ref(str(entry.get("ref", "")))
                if link is None or link.share_id != row.id:
                    continue
                gateway.log_access(link.link_id, str(entry.get("at", "")), str(entry.get("action", "view")),
                                   bool(entry.get("allowed")), str(entry.get("client", ""))[:200])
                count += 1
    finally:
        if own:
            box.close()
    return count


def share_log(library: "Library", share_id: str | None = None, *, pull: bool = True) -> list[dict[str, Any]]:
    """The access log of one share (or all), oldest first; first fetches new entries from the container."""
    from printmanager_core.privacy.sharing import Shares

    if pull:
        pull_log(library, share_id)
    store = ShareStore(library.store.db)
    wanted = {link.link_id: link for link in store.links(find_share(library, share_id).id if share_id else None)}
    out = []
    for entry in Shares.for_library(library).access_log():
        link = wanted.get(entry.link_id)
        if link is None:
            continue
        out.append({"share_id": link.share_id, "link_id": entry.link_id, "recipient": link.recipient or None,
                    "at": entry.at, "action": entry.action, "allowed": entry.allowed, "client": entry.client})
    return out


# -- revoking and deleting ----------------------------------------------------------------------


def revoke(library: "Library", share_id: str, *, recipient: str | None = None, link_id: int | None = None,
           now: _dt.datetime | None = None) -> Share:
    """Revoke a whole share (its links' records and the bundle's objects are deleted: crypto-shredding),
    or only one recipient's link (``recipient`` address or ``link_id``), leaving the others working."""
    from printmanager_core.privacy.sharing import Shares

    at = _now(now)
    row = find_share(library, share_id)
    store = ShareStore(library.store.db)
    links = store.links(row.id)
    if recipient is not None or link_id is not None:
        chosen = [link for link in links if (link_id is not None and link.link_id == link_id)
                  or (recipient is not None and link.recipient == recipient.strip())]
        if not chosen:
            raise NotFound(f"share {row.id[:8]} has no link for {recipient or link_id}")
    else:
        chosen = links
    shares = Shares.for_library(library)
    box = _open(library, row.container if row.container.get("backend") else None)
    try:
        if recipient is None and link_id is None and not row.deleted_at:
            try:
                pull_log(library, row.id, box)  # keep what the gateway logged before it goes
            except Exception:  # revoking must not fail because a log entry could not be read
                pass
        for link in chosen:
            box.tombstone(link.token_ref, _iso(at), keep_log=recipient is not None or link_id is not None)
            store.revoke_link(link.link_id, _iso(at))
            try:
                shares.revoke(link.link_id, at=at)
            except NotFound:
                pass
        if recipient is None and link_id is None and not row.deleted_at:
            box.delete_bundle(row.id)
            store.mark_deleted(row.id, _iso(at))
    finally:
        box.close()
    return get_share(library, row.id, now=at)


def apply_retention(library: "Library", now: _dt.datetime | None = None) -> dict[str, int]:
    """Delete the bundles of expired shares (keeping their links' records: the gateway answers 410),
    and the container records of links whose core record retention removed."""
    from printmanager_core.privacy.sharing import Shares

    store = ShareStore(library.store.db)
    at = _iso(_now(now))
    expired = store.expired_bundles(at)
    shares = Shares.for_library(library)
    known = {link.id for link in shares.links()}
    gone = [b for b in store.bundles() if b.deleted_at and not any(li.link_id in known for li in store.links(b.id))]
    if not expired and not gone:
        return {}
    removed = {"share bundles": 0, "share objects": 0, "share link records": 0}
    box = _open(library)
    try:
        for row in expired:
            try:
                pull_log(library, row.id, box)
            except Exception:
                pass
            removed["share objects"] += box.delete_bundle(row.id)
            store.mark_deleted(row.id, at)
            removed["share bundles"] += 1
        for row in gone:
            removed["share link records"] += box.delete_tokens([li.token_ref for li in store.links(row.id)])
            store.forget_bundle(row.id)
    finally:
        box.close()
    return {k: v for k, v in removed.items() if v}


def delete_everything(library: "Library") -> dict[str, int]:
    """Every share's objects and link records in the container, then the plugin's rows and keys."""
    from .keys import forget_sharer_keys

    store = ShareStore(library.store.db)
    bundles = store.bundles()
    counts = {"share objects": 0, "share link records": 0}
    if bundles:
        by_container: dict[str, list[BundleRow]] = {}
        for row in bundles:
            by_container.setdefault(repr(sorted(row.container.items())), []).append(row)
        for group in by_container.values():
            config = group[0].container if group[0].container.get("backend") else None
            box = _open(library, config) if config else _open(library)
            try:
                for row in group:
                    counts["share objects"] += box.delete_bundle(row.id)
                    counts["share link records"] += box.delete_tokens([li.token_ref for li in store.links(row.id)])
            finally:
                box.close()
    counts["share rows"] = store.clear()
    counts["share keys"] = forget_sharer_keys(library)
    return {k: v for k, v in counts.items() if v}


def export_json(library: "Library") -> dict[str, Any]:
    """The plugin's records for ``privacy export`` (no secrets; no network)."""
    data = ShareStore(library.store.db).as_json()
    data["status"] = {k: v for k, v in status(library).items() if k != "consent"}
    data["consent"] = consent.history(library)
    return data


