"""What the share API returns (and the ``share_created`` hook is given)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class RecipientLink:
    """One recipient's link: the full URL (with its key in the fragment) is known only at creation."""

    link_id: int
    recipient: str | None
    url: str | None = attrs.field(default=None, repr=False)
    distribution_list: str | None = None
    revoked_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """A dict for ``--json`` output."""
        return attrs.asdict(self)


@attrs.frozen
class Share:
    """A stored (or deleted) encrypted bundle and its links."""

    id: str
    title: str
    target_kind: str
    created_at: str
    expires_at: str | None
    max_opens: int | None
    password: bool
    file_count: int
    total_size: int
    state: str = "active"
    deleted_at: str | None = None
    links: tuple[RecipientLink, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """A dict for ``--json`` output (links without URLs unless known)."""
        data = attrs.asdict(self, recurse=False)
        data["links"] = [link.as_json() for link in self.links]
        return data


@attrs.frozen
class OpenedFile:
    """A file ``share open`` wrote and checked."""

    path: str
    size: int
    sha256: str


@attrs.frozen
class OpenResult:
    """What ``share open`` found: the manifest's facts, who signed it, and the files written."""

    share_id: str
    title: str
    signer: str
    files: tuple[OpenedFile, ...]
    folder: str

    def as_json(self) -> dict[str, Any]:
        """A dict for ``--json`` output."""
        return {"share_id": self.share_id, "title": self.title, "signer": self.signer, "folder": self.folder,
                "files": [attrs.asdict(f) for f in self.files]}
