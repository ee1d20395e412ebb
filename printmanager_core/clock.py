"""The one way the catalogue writes a time: UTC, ISO 8601, microseconds."""

from __future__ import annotations

import datetime as _dt


def now_iso() -> str:
    """The current UTC time as ISO 8601 with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
