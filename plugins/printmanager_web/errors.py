"""The web plugin's errors: one line each, for the CLI and for HTTP responses."""

from __future__ import annotations

from printmanager_core.errors import PrintManagerError


class WebError(PrintManagerError):
    """``printmanager serve`` cannot start or serve as asked."""


class TokenRequired(WebError):
    """A non-loopback address was asked for without an access token to guard it."""


class OutsideRoots(WebError):
    """A catalogued file's path leads outside the library's roots (it is never served)."""
