"""Scans started from the web API: one at a time, in a background thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library


class Scans:
    """At most one background scan at a time, started from the API."""

    def __init__(self, library: "Library"):
        self.library = library
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last: dict[str, Any] | None = None
        self._error: str | None = None

    def start(self) -> bool:
        """Start a scan of every root unless one started here is running."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._error = None
            self._thread = threading.Thread(target=self._run, name="web-scan", daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        try:
            self._last = self.library.scan(workers=1).as_json()
        except Exception as exc:  # noqa: BLE001 - reported through the status
            self._error = str(exc) or type(exc).__name__

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running scan (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """``{"running", "last", "error"}``."""
        running = self._thread is not None and self._thread.is_alive()
        return {"running": running, "last": self._last, "error": self._error}
