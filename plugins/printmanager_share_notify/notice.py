"""What a share notice says, and what a notifier is.

A notice goes to one recipient and carries that recipient's own link (each
recipient of a share has their own token). It names no file: the mail servers
on the way see the message, so it says only who shared how many files and until
when. The link itself opens the share, fragment key included: see
``docs/sharing.md`` ("Threat model").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library


def _address(value: str) -> str:
    value = value.strip()
    if "@" not in value or any(c in value for c in "\r\n<>,; \t"):
        raise ValueError(f"not an email address: {value!r}")
    return value


@attrs.frozen
class ShareNotice:
    """One message to one recipient about one share.

    :ivar recipient: the recipient's email address.
    :ivar link: the recipient's own link, ``<gateway>/s/<token>#k=<key>``.
    :ivar sender: who shares, as the recipient knows them (a name or an address).
    :ivar files: how many files the share holds.
    :ivar size: their total size in bytes, or None.
    :ivar expires_at: when the link stops working (ISO 8601, UTC), or None.
    :ivar max_opens: how many times it can be opened, or None.
    :ivar password: True when the link also needs a password (sent out of band).
    :ivar note: a short message from the sender, or "".
    """

    recipient: str = attrs.field(converter=_address)
    link: str = attrs.field(validator=attrs.validators.instance_of(str))
    sender: str = ""
    files: int = 0
    size: int | None = None
    expires_at: str | None = None
    max_opens: int | None = None
    password: bool = False
    note: str = ""

    def subject(self) -> str:
        """The subject line."""
        who = self.sender or "Someone"
        return f"{who} shared {self.files} file{'s' if self.files != 1 else ''} with you"

    def text(self) -> str:
        """The plain-text body: who, the link, its limits; never a file name."""
        who = self.sender or "Someone"
        count = f"{self.files} file{'s' if self.files != 1 else ''}"
        if self.size is not None:
            count += f" ({_human(self.size)})"
        lines = [f"{who} shared {count} with you.", ""]
        if self.note:
            lines += [self.note.strip(), ""]
        lines += ["Open them here:", "", f"    {self.link}", ""]
        limits = []
        if self.expires_at:
            limits.append(f"The link works until {self.expires_at[:16].replace('T', ' ')} UTC.")
        if self.max_opens:
            limits.append(f"It can be opened {self.max_opens} time{'s' if self.max_opens != 1 else ''}.")
        if self.password:
            limits.append(f"You also need a password, which {who} gives you another way (not by this email).")
        if limits:
            lines += [" ".join(limits), ""]
        lines += [
            "The files are end-to-end encrypted: the key is the part of the link after '#', which your",
            "browser never sends to the server. Anyone with this link can open the share, so keep it to",
            "yourself. If you did not expect this message, you can ignore it.",
        ]
        return "\n".join(lines) + "\n"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"  # pragma: no cover


@attrs.frozen
class Delivery:
    """What became of one notice: ``status`` is ``"sent"`` or ``"failed"`` (with ``error``)."""

    recipient: str
    notifier: str
    status: str
    error: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """A JSON-safe dict."""
        return attrs.asdict(self)


@runtime_checkable
class Notifier(Protocol):
    """Something that can deliver share notices (registered with ``register_share_notifiers``)."""

    #: a unique name, such as ``"smtp"``
    name: str

    def configured(self, library: "Library") -> bool:
        """True when the user set this notifier up for ``library``; an unconfigured one sends nothing."""
        ...  # pragma: no cover

    def send(self, library: "Library", notices: Sequence[ShareNotice]) -> list[Delivery]:
        """Deliver each notice (one message per recipient); one :class:`Delivery` per notice."""
        ...  # pragma: no cover
