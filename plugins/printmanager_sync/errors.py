"""Errors of the sync plugin. Each message is one line for the user."""

from __future__ import annotations

from printmanager_core.errors import PrintManagerError


class SyncError(PrintManagerError):
    """Base class of every sync error."""


class SyncDisabled(SyncError):
    """Sync is off (no consent recorded, or consent withdrawn): no network allowed."""


class NotConfigured(SyncError):
    """No sync backend is configured for this library."""


class WrongPassphrase(SyncError):
    """The passphrase does not unwrap any key file of the repository."""


class IntegrityError(SyncError):
    """A stored object failed authentication or its content does not match its id."""


class ObjectMissing(SyncError):
    """An object the repository needs is not in the container."""


class Conflict(SyncError):
    """A conditional write lost: the object changed since it was read."""


class BackendError(SyncError):
    """The storage backend failed (after retries)."""


class SourceChanged(SyncError):
    """A local file changed while it was being uploaded; it is retried next sync."""


class ContainerGone(ObjectMissing):
    """The user's repository is no longer in the container (deleted elsewhere, or by hand)."""


class ContainerDamaged(IntegrityError):
    """The container lacks or changed something sync needs and cannot put back itself."""


class Rollback(IntegrityError):
    """The head went back to an older snapshot, or vanished after this device saw one."""
