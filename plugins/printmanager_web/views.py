"""What every JSON view shares: the app's state, parameters, bodies, and errors as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from printmanager_core.errors import LibraryBusy, NotFound, PrintManagerError, UsageError

from .errors import OutsideRoots, WebError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from .app import WebState

#: the most files one request lists
MAX_LIMIT = 1000
DEFAULT_LIMIT = 60


def state_of(request: Request) -> "WebState":
    """The app's :class:`~printmanager_web.app.WebState`."""
    return request.app.state.web  # type: ignore[no-any-return]


def error_response(exc: Exception) -> JSONResponse:
    """A library error as JSON with the matching status (404, 400, 403, 409, 422)."""
    status = 400
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, OutsideRoots):
        status = 403
    elif isinstance(exc, WebError):
        status = 422
    elif isinstance(exc, LibraryBusy):
        status = 409
    return JSONResponse({"error": str(exc)}, status_code=status)


def int_param(request: Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """The whole-number query parameter ``name``, clamped to ``[low, high]``.

    :raises UsageError: it is not a whole number.
    """
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw!r}") from None
    value = max(low, value)
    return min(value, high) if high is not None else value


def page_params(request: Request) -> dict[str, Any]:
    """``q``, ``sort``, ``desc``, ``offset`` and ``limit`` of a listing request."""
    return {
        "query": request.query_params.get("q", ""),
        "sort": request.query_params.get("sort", "path") or "path",
        "descending": request.query_params.get("desc", "") in ("1", "true", "yes", "on"),
        "offset": int_param(request, "offset", 0),
        "limit": int_param(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
        "after": int_param(request, "after", 0) or None,
        "before": int_param(request, "before", 0) or None,
    }


def library_of(request: Request) -> "Library":
    """The library the app serves."""
    return state_of(request).library


def _json_body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError("the request body must be a JSON object")
    return data


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body.

    :raises UsageError: the body is not JSON, or not an object.
    """
    try:
        return _json_body(await request.json())
    except ValueError:
        raise UsageError("the request body must be JSON") from None


def names_in(body: dict[str, Any], key: str) -> list[str]:
    """``body[key]`` as a list of names (a string is split at spaces).

    :raises UsageError: it is neither a string nor a list of strings.
    """
    value = body.get(key, [])
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{key} must be a list of strings")
    return value


def guarded(view: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Turn library errors raised by a sync view into JSON error responses."""

    def run(request: Request) -> Response:
        try:
            return view(request)
        except PrintManagerError as exc:
            return error_response(exc)

    run.__name__ = view.__name__
    run.__doc__ = view.__doc__
    return run


def guarded_async(view: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """The same for an async view (those that read a request body)."""

    async def run(request: Request) -> Response:
        try:
            return await view(request)  # type: ignore[no-any-return]
        except PrintManagerError as exc:
            return error_response(exc)

    run.__name__ = view.__name__
    run.__doc__ = view.__doc__
    return run


# -- reading -----------------------------------------------------------------------


