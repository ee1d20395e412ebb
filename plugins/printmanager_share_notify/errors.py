"""The share-notices plugin's errors: one-line messages for the user."""

from __future__ import annotations

from printmanager_core.errors import PrintManagerError, UsageError


class NoticeError(PrintManagerError):
    """A notice could not be sent (the server refused, the connection failed)."""


class NotConfigured(UsageError):
    """No notifier is set up: nothing is sent until the user configures one."""
