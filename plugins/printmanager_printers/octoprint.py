"""OctoPrint (octoprint.org): its REST API with an API key (``X-Api-Key``).

* upload: ``POST /api/files/local`` (multipart ``file``)
* start: ``POST /api/files/local/<name>`` ``{"command": "select", "print": true}``, after
  ``POST /api/connection`` ``{"command": "connect"}`` when the printer is not connected
* status: ``GET /api/job`` (state, file, ``progress.completion``, print time and time left)
* history: OctoPrint keeps, per file, how many prints succeeded and failed and the
  last one (``GET /api/files?recursive=true``: ``prints.last.date``,
  ``prints.last.success``, ``prints.last.printTime``); each last print is one job,
  identified by the file's path and that date, so a sync pulls each print once.

httpx is imported when a connection is made, never at import.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from .connection import HttpConnection, Job, JobStatus, PrinterError

#: seconds a request may take
TIMEOUT = 30.0


class OctoPrintConnection(HttpConnection):
    """One OctoPrint server."""

    label = "OctoPrint"

    def __init__(self, url: str, api_key: str | None, *, timeout: float = TIMEOUT):
        super().__init__(url, api_key, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            detail = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
            raise PrinterError(f"OctoPrint at {self.url}: {method} {path} failed (HTTP {response.status_code}"
                               f"{': ' + detail if detail else ''})")
        return response.json() if response.content and "json" in response.headers.get("content-type", "") else None

    def upload(self, path: Path, name: str) -> str:
        """Upload ``path`` to OctoPrint's local storage as ``name``."""
        with open(path, "rb") as fh:
            data = self._call("POST", "/api/files/local", files={"file": (name, fh, "application/octet-stream")})
        local = (data or {}).get("files", {}).get("local", {})
        return str(local.get("path") or local.get("name") or name)

    def connect(self, wait: float = 30.0) -> None:
        """Connect OctoPrint to its printer when it is not connected, and wait until it is operational."""
        state = self._call("GET", "/api/connection")["current"]["state"]
        if state.lower().startswith(("closed", "offline", "error")):
            self._call("POST", "/api/connection", json={"command": "connect", "autoconnect": False})
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            state = self._call("GET", "/api/connection")["current"]["state"]
            if state.lower() in ("operational", "printing", "paused"):
                return
            time.sleep(0.25)
        raise PrinterError(f"OctoPrint at {self.url} did not connect to its printer (state: {state})")

    def start(self, name: str) -> None:
        """Select ``name`` and start printing it."""
        self.connect()
        self._call("POST", f"/api/files/local/{name}", json={"command": "select", "print": True})

    def status(self) -> JobStatus:
        """``GET /api/job``."""
        data = self._call("GET", "/api/job") or {}
        state = str(data.get("state") or "unknown")
        progress = data.get("progress") or {}
        completion = progress.get("completion")
        file = ((data.get("job") or {}).get("file") or {}).get("name")
        return JobStatus(
            state=state.lower(),
            printing=state.lower().startswith(("printing", "paused", "pausing", "resuming", "finishing")),
            file=file,
            progress=None if completion is None else max(0.0, min(1.0, float(completion) / 100)),
            elapsed_s=progress.get("printTime"),
            remaining_s=progress.get("printTimeLeft"),
        )

    def history(self) -> list[Job]:
        """The last print of every file OctoPrint keeps, newest first."""
        data = self._call("GET", "/api/files", params={"recursive": "true"}) or {}
        jobs: list[Job] = []

        def walk(entries: list[dict[str, Any]]) -> None:
            for entry in entries:
                if entry.get("type") == "folder":
                    walk(entry.get("children") or [])
                    continue
                last = (entry.get("prints") or {}).get("last")
                if not last or last.get("date") is None:
                    continue
                ended = dt.datetime.fromtimestamp(float(last["date"]), dt.timezone.utc)
                path = str(entry.get("path") or entry.get("name"))
                jobs.append(Job(
                    id=f"{path}@{float(last['date']):.3f}", file=str(entry.get("name") or path),
                    ended_at=ended.isoformat(timespec="microseconds"),
                    result="ok" if last.get("success") else "failed", duration_s=last.get("printTime"),
                ))

        walk(data.get("files") or [])
        return sorted(jobs, key=lambda j: j.ended_at, reverse=True)


def octoprint_factory(url: str, api_key: str | None) -> OctoPrintConnection:
    """The ``octoprint`` kind of :func:`register_printer_connections`."""
    return OctoPrintConnection(url, api_key)
