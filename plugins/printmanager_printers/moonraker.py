"""Moonraker (Klipper's API server): its HTTP API, with an API key (``X-Api-Key``) when it asks for one.

* upload: ``POST /server/files/upload`` (multipart ``file``, ``root=gcodes``)
* start: ``POST /printer/print/start?filename=<name>``
* status: ``GET /printer/objects/query?print_stats&virtual_sdcard``
* history: ``GET /server/history/list?order=desc`` (``job_id``, ``filename``,
  ``status``: ``completed`` → ok, ``cancelled`` → cancelled, anything else that
  ended → failed; ``end_time``, ``print_duration``)

httpx is imported when a connection is made, never at import.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from .connection import HttpConnection, Job, JobStatus, PrinterError

TIMEOUT = 30.0
#: history statuses of jobs that have not ended
RUNNING = ("in_progress",)


class MoonrakerConnection(HttpConnection):
    """One Moonraker server."""

    label = "Moonraker"

    def __init__(self, url: str, api_key: str | None, *, timeout: float = TIMEOUT):
        super().__init__(url, api_key, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = ((data or {}).get("error") or {}).get("message") if isinstance(data, dict) else None
            raise PrinterError(f"Moonraker at {self.url}: {method} {path} failed (HTTP {response.status_code}"
                               f"{': ' + str(message) if message else ''})")
        return data

    def upload(self, path: Path, name: str) -> str:
        """Upload ``path`` into the ``gcodes`` root as ``name``."""
        with open(path, "rb") as fh:
            data = self._call("POST", "/server/files/upload", data={"root": "gcodes"},
                              files={"file": (name, fh, "application/octet-stream")})
        item = (data or {}).get("item") or (data or {}).get("result", {}).get("item") or {}
        return str(item.get("path") or name)

    def start(self, name: str) -> None:
        """Start printing ``name`` (a file in the ``gcodes`` root)."""
        self._call("POST", "/printer/print/start", params={"filename": name})

    def status(self) -> JobStatus:
        """``print_stats`` and ``virtual_sdcard`` of the printer."""
        data = self._call("GET", "/printer/objects/query", params={"print_stats": "", "virtual_sdcard": ""})
        status = ((data or {}).get("result") or {}).get("status") or {}
        stats = status.get("print_stats") or {}
        card = status.get("virtual_sdcard") or {}
        state = str(stats.get("state") or "unknown").lower()
        progress = card.get("progress")
        return JobStatus(state=state, printing=state in ("printing", "paused"), file=stats.get("filename") or None,
                         progress=None if progress is None else float(progress),
                         elapsed_s=stats.get("print_duration"))

    def history(self) -> list[Job]:
        """Finished jobs, newest first."""
        data = self._call("GET", "/server/history/list", params={"order": "desc", "limit": 1000})
        jobs: list[Job] = []
        for job in ((data or {}).get("result") or {}).get("jobs") or []:
            status = str(job.get("status") or "")
            if status in RUNNING or job.get("end_time") is None:
                continue
            result = "ok" if status == "completed" else "cancelled" if status == "cancelled" else "failed"
            ended = dt.datetime.fromtimestamp(float(job["end_time"]), dt.timezone.utc)
            jobs.append(Job(id=str(job.get("job_id")), file=str(job.get("filename") or ""),
                            ended_at=ended.isoformat(timespec="microseconds"), result=result,
                            duration_s=job.get("print_duration")))
        return jobs


def moonraker_factory(url: str, api_key: str | None) -> MoonrakerConnection:
    """The ``moonraker`` kind of :func:`register_printer_connections`."""
    return MoonrakerConnection(url, api_key)
