"""The share plugin's errors: each a one-line message for the CLI."""

from __future__ import annotations

from printmanager_core.errors import PrintManagerError


class ShareError(PrintManagerError):
    """Something about a share went wrong (the message says what)."""


class SharingDisabled(ShareError):
    """Sharing is off: the user has not consented (``privacy.share``)."""


class LinkRefused(ShareError):
    """The gateway refused a link: unknown (404), or expired, revoked or used up (410)."""

    def __init__(self, message: str, status: int, state: str):
        super().__init__(message)
        self.status = status
        self.state = state


class BundleInvalid(ShareError):
    """A bundle failed its checks: bad signature, wrong hash or size, unsafe path."""
