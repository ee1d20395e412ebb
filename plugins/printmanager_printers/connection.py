"""What a printer connection is: the objects a ``register_printer_connections`` factory returns.

A connection talks to one printer (its server: OctoPrint, Moonraker, PrusaLink…)
and does four things; every method raises :class:`PrinterError` with one line
saying what went wrong (unreachable, refused key, busy printer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Sequence

import attrs

from printmanager_core.errors import PrintManagerError


class PrinterError(PrintManagerError):
    """A printer could not be reached or refused a request (one line, for the user)."""


#: what a job's ``result`` may be (the print log's results)
RESULTS = ("ok", "failed", "cancelled")


@attrs.frozen
class JobStatus:
    """What a printer is doing now.

    :ivar state: the printer's own word for it, lower-cased (``printing``, ``operational``,
        ``paused``, ``standby``, ``complete``…).
    :ivar printing: whether a job is running (paused counts).
    :ivar file: the job's file name on the printer, if any.
    :ivar progress: 0.0–1.0, None when unknown.
    """

    state: str
    printing: bool = False
    file: str | None = None
    progress: float | None = None
    elapsed_s: float | None = None
    remaining_s: float | None = None

    def as_json(self) -> dict[str, object]:
        """``printer status --json``."""
        return attrs.asdict(self)


@attrs.frozen
class Job:
    """One finished job from a printer's history.

    :ivar id: the printer's id for it (kept as the print log's ``external_id``).
    :ivar file: the file name the printer knew it by.
    :ivar ended_at: when it ended, UTC ISO 8601.
    :ivar result: ``ok``, ``failed`` or ``cancelled``.
    """

    id: str
    file: str
    ended_at: str
    result: str = attrs.field(validator=attrs.validators.in_(RESULTS))
    duration_s: float | None = None

    def as_json(self) -> dict[str, object]:
        """``printer sync-history --json``."""
        return attrs.asdict(self)


class PrinterConnection(Protocol):
    """One printer's server, as a factory returns it: ``factory(url, api_key)``."""

    def upload(self, path: Path, name: str) -> str:
        """Upload the G-code file ``path`` as ``name``; the name the printer keeps it under."""
        ...

    def start(self, name: str) -> None:
        """Start printing the uploaded file ``name``."""
        ...

    def status(self) -> JobStatus:
        """What the printer is doing now."""
        ...

    def history(self) -> Sequence[Job]:
        """Finished jobs the printer remembers, newest first."""
        ...


class HttpConnection:
    """What the built-in connections share: an httpx client with the printer's API key
    (``X-Api-Key``), and one-line errors for an unreachable server or a refused key.
    httpx is imported when a connection is made, never at import."""

    #: the server's name in messages (``OctoPrint``, ``Moonraker``)
    label = "printer"

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 30.0):
        import httpx

        self.url = url.rstrip("/")
        headers = {"X-Api-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """The server's answer (an ``httpx.Response``); PrinterError when it cannot be reached or
        refuses the key. Other HTTP errors are the caller's to word."""
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PrinterError(f"{self.label} at {self.url} cannot be reached ({type(exc).__name__}: {exc})") from None
        if response.status_code in (401, 403):
            raise PrinterError(f"{self.label} at {self.url} refused the API key (HTTP {response.status_code})")
        return response
