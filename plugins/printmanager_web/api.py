"""The JSON API: the same shapes as ``--json`` on the CLI, over the Library's public methods.

Every route is listed in :data:`ROUTES` with what the OpenAPI document says of it
(``GET /api/openapi.json``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from printmanager_core.errors import NotFound, PrintManagerError, UsageError

from .downloads import file_response, model_zip_response
from .errors import OutsideRoots, WebError
from .mesh import preview_mesh

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
    """A library error as JSON with the matching status (404, 400, 403, 409)."""
    status = 400
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, OutsideRoots):
        status = 403
    elif isinstance(exc, WebError):
        status = 422
    elif type(exc).__name__ == "LibraryBusy":
        status = 409
    return JSONResponse({"error": str(exc)}, status_code=status)


def _int(request: Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
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
        "offset": _int(request, "offset", 0),
        "limit": _int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
        "after": _int(request, "after", 0) or None,
        "before": _int(request, "before", 0) or None,
    }


def _lib(request: Request) -> "Library":
    return state_of(request).library


def _json_body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError("the request body must be a JSON object")
    return data


async def _body(request: Request) -> dict[str, Any]:
    try:
        return _json_body(await request.json())
    except ValueError:
        raise UsageError("the request body must be JSON") from None


def _names(body: dict[str, Any], key: str) -> list[str]:
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


@guarded
def list_files(request: Request) -> Response:
    """One page of files matching ``q``: ``{"total", "offset", "limit", "files": [...], "next": {"after": ID}}``."""
    lib, p = _lib(request), page_params(request)
    files = lib.files_page(p["query"], sort=p["sort"], descending=p["descending"], offset=p["offset"],
                           limit=p["limit"], after=p["after"], before=p["before"] if p["after"] is None else None)
    return JSONResponse({"total": lib.count_files(p["query"]), "offset": p["offset"], "limit": p["limit"],
                         "files": [f.as_json() for f in files],
                         "next": {"after": files[-1].id} if len(files) == p["limit"] else None})


@guarded
def search(request: Request) -> Response:
    """Files matching ``q``, as ``printmanager ls --json`` prints them (at most ``limit``)."""
    lib = _lib(request)
    limit = _int(request, "limit", MAX_LIMIT, low=1, high=10 * MAX_LIMIT)
    return JSONResponse([f.as_json() for f in lib.files(request.query_params.get("q", ""), limit=limit)])


@guarded
def show_file(request: Request) -> Response:
    """One file, as ``printmanager show --json``."""
    return JSONResponse(_lib(request).file(int(request.path_params["file_id"])).as_json())


@guarded
def download_file(request: Request) -> Response:
    """The file's bytes (``Range`` requests answered for files on disk)."""
    lib = _lib(request)
    return file_response(lib, lib.file(int(request.path_params["file_id"])))


async def file_thumbnail(request: Request) -> Response:
    """The file's thumbnail PNG (made on first request when the thumbnails plugin is installed).

    ``?fallback=1``: a placeholder picture instead of a 404 (for pages).
    """
    lib = _lib(request)
    try:
        rec = lib.file(int(request.path_params["file_id"]))
    except PrintManagerError as exc:
        return error_response(exc)
    cached = cached_thumbnail(lib, rec)
    if cached is not None:  # the common case, answered on the event loop: a small PNG in the cache
        stat = cached.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        headers = {"cache-control": "private, max-age=3600", "etag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        if stat.st_size <= MAX_INLINE_THUMBNAIL:
            return Response(cached.read_bytes(), media_type="image/png", headers=headers)
    response = await run_in_threadpool(thumbnail_response, lib, rec)
    if response.status_code == 404 and request.query_params.get("fallback"):
        return FileResponse(NO_PICTURE, media_type="image/svg+xml", headers={"x-thumbnail": "none"})
    return response


#: what a page shows for a file without a thumbnail (``?fallback=1``)
NO_PICTURE = Path(__file__).resolve().parent / "static" / "no-picture.svg"
#: thumbnails up to this size are read in one go; larger ones are streamed
MAX_INLINE_THUMBNAIL = 1024 * 1024


def cached_thumbnail(lib: "Library", file: Any) -> Path | None:
    """The file's recorded thumbnail, if it is a file inside the library directory."""
    import os

    path = file.thumbnail
    if not path:
        return None
    real = os.path.realpath(path)
    if real.startswith(os.path.realpath(lib.directory) + os.sep) and os.path.isfile(real):
        return Path(real)
    return None


def thumbnail_response(lib: "Library", file: Any) -> Response:
    """The PNG of a file's thumbnail (made if the thumbnails plugin can), or 404 when it has none."""
    headers = {"cache-control": "private, max-age=3600"}
    cached = cached_thumbnail(lib, file)
    if cached is not None:
        return FileResponse(cached, media_type="image/png", headers=headers)
    try:
        from printmanager_thumbnails import thumbnail
    except ImportError:
        return JSONResponse({"error": "no thumbnail (the thumbnails plugin is not installed)"}, status_code=404)
    try:
        made = thumbnail(lib, file)
    except PrintManagerError as exc:
        return JSONResponse({"error": f"no thumbnail: {exc}"}, status_code=404)
    return FileResponse(made.path, media_type="image/png", headers=headers)


@guarded
def file_mesh(request: Request) -> Response:
    """The file's mesh for the 3D preview, as binary STL; decimated above a size (see headers)."""
    lib = _lib(request)
    rec = lib.file(int(request.path_params["file_id"]))
    from .security import served_path

    served_path(lib, rec)
    mesh = preview_mesh(lib, rec)
    return Response(mesh.stl, media_type="model/stl", headers={
        "x-preview-triangles": str(mesh.triangles),
        "x-source-triangles": str(mesh.source_triangles),
        "x-preview-decimated": "1" if mesh.decimated else "0",
        "cache-control": "private, max-age=600",
    })


@guarded
def list_models(request: Request) -> Response:
    """Models with a file matching ``q``, as ``printmanager models --json`` (paged by offset/limit)."""
    p = page_params(request)
    found = _lib(request).models(p["query"])
    return JSONResponse([m.as_json() for m in found[p["offset"]: p["offset"] + p["limit"]]],
                        headers={"x-total-count": str(len(found))})


@guarded
def show_model(request: Request) -> Response:
    """One model with its files, as ``printmanager show --model --json``."""
    lib = _lib(request)
    model = lib.model(int(request.path_params["model_id"]))
    data = model.as_json()
    data["files"] = [f.as_json() for f in lib.model_files(model.id)]
    return JSONResponse(data)


@guarded
def model_zip(request: Request) -> Response:
    """The model's files as one zip, streamed."""
    lib = _lib(request)
    return model_zip_response(lib, lib.model(int(request.path_params["model_id"])))


@guarded
def list_collections(request: Request) -> Response:
    """Every collection: ``[{"id", "name", "description", "models"}]``."""
    return JSONResponse(_lib(request).collections())


@guarded
def list_tags(request: Request) -> Response:
    """Every tag in use and how many files and models carry it: ``{"tag": count}``."""
    return JSONResponse(_lib(request).tags())


def csrf(request: Request) -> Response:
    """The CSRF token writes carry in ``X-CSRF-Token``."""
    return JSONResponse({"csrf_token": state_of(request).csrf_token, "read_only": state_of(request).read_only})


def scan_status(request: Request) -> Response:
    """Whether a scan started here is running, and the report of the last one."""
    return JSONResponse(state_of(request).scans.status())


# -- writing (CSRF-checked and refused in --read-only by the Guard) -------------------


@guarded_async
async def start_scan(request: Request) -> Response:
    """Scan every root in the background; ``202`` with the status (``409`` if one runs)."""
    scans = state_of(request).scans
    if not scans.start():
        return JSONResponse({"error": "a scan is already running", **scans.status()}, status_code=409)
    return JSONResponse(scans.status(), status_code=202)


@guarded_async
async def file_tags(request: Request) -> Response:
    """``{"add": [...], "remove": [...]}`` tags of a file; the file as JSON."""
    body = await _body(request)
    return JSONResponse((await run_in_threadpool(_edit_tags, request, body, "file")).as_json())


@guarded_async
async def model_tags(request: Request) -> Response:
    """``{"add": [...], "remove": [...]}`` tags of a model; the model as JSON."""
    body = await _body(request)
    return JSONResponse((await run_in_threadpool(_edit_tags, request, body, "model")).as_json())


def _edit_tags(request: Request, body: dict[str, Any], kind: str) -> Any:
    lib = _lib(request)
    add, remove = _names(body, "add"), _names(body, "remove")
    if kind == "file":
        target: Any = int(request.path_params["file_id"])
        rec = lib.file(target)
        if add:
            rec = lib.tag(rec.id, *add)
        if remove:
            rec = lib.untag(rec.id, *remove)
        return rec
    rec = lib.model(int(request.path_params["model_id"]))
    if add:
        rec = lib.tag_model(rec.id, *add)
    if remove:
        rec = lib.untag_model(rec.id, *remove)
    return rec


@guarded_async
async def file_notes(request: Request) -> Response:
    """``{"notes": "..."}`` replaces a file's notes; the file as JSON."""
    body = await _body(request)
    notes = body.get("notes")
    if not isinstance(notes, str):
        raise UsageError("notes must be a string")
    lib, file_id = _lib(request), int(request.path_params["file_id"])
    return JSONResponse((await run_in_threadpool(lib.set_file_notes, file_id, notes)).as_json())


@guarded_async
async def edit_model(request: Request) -> Response:
    """Set ``name``, ``creator``, ``source_url``, ``licence`` or ``notes`` of a model."""
    body = await _body(request)
    if not all(isinstance(v, str) for v in body.values()):
        raise UsageError("model fields must be strings")
    lib, model_id = _lib(request), int(request.path_params["model_id"])
    return JSONResponse((await run_in_threadpool(lambda: lib.update_model(model_id, **body))).as_json())


@guarded_async
async def model_collections(request: Request) -> Response:
    """``{"add": [...], "remove": [...]}`` collections of a model; the model as JSON."""
    body = await _body(request)
    return JSONResponse((await run_in_threadpool(_edit_collections, request, body)).as_json())


def _edit_collections(request: Request, body: dict[str, Any]) -> Any:
    lib = _lib(request)
    model = lib.model(int(request.path_params["model_id"]))
    add = body.get("add", [])
    remove = body.get("remove", [])
    for group in (add, remove):
        if not isinstance(group, list) or not all(isinstance(v, str) and v.strip() for v in group):
            raise UsageError("add and remove must be lists of collection names")
    for name in add:
        lib.add_to_collection(name, model.id)
    for name in remove:
        lib.remove_from_collection(name, model.id)
    return lib.model(model.id)


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


#: (method, path, view, summary, parameters) of every API route
ROUTES: list[tuple[str, str, Callable[..., Any], list[str]]] = [
    ("GET", "/api/files", list_files, ["q", "sort", "desc", "offset", "limit", "after", "before"]),
    ("GET", "/api/search", search, ["q", "limit"]),
    ("GET", "/api/files/{file_id:int}", show_file, []),
    ("GET", "/api/files/{file_id:int}/download", download_file, []),
    ("GET", "/api/files/{file_id:int}/thumbnail", file_thumbnail, ["fallback"]),
    ("GET", "/api/files/{file_id:int}/mesh", file_mesh, []),
    ("POST", "/api/files/{file_id:int}/tags", file_tags, []),
    ("POST", "/api/files/{file_id:int}/notes", file_notes, []),
    ("GET", "/api/models", list_models, ["q", "offset", "limit"]),
    ("GET", "/api/models/{model_id:int}", show_model, []),
    ("POST", "/api/models/{model_id:int}", edit_model, []),
    ("GET", "/api/models/{model_id:int}/zip", model_zip, []),
    ("POST", "/api/models/{model_id:int}/tags", model_tags, []),
    ("POST", "/api/models/{model_id:int}/collections", model_collections, []),
    ("GET", "/api/collections", list_collections, []),
    ("GET", "/api/tags", list_tags, []),
    ("GET", "/api/scan", scan_status, []),
    ("POST", "/api/scan", start_scan, []),
    ("GET", "/api/csrf", csrf, []),
]

_PARAM_DOC = {
    "q": ("string", "a query (docs/query.md)"),
    "sort": ("string", "path, name, date, added, size, triangles or time"),
    "desc": ("boolean", "sort descending"),
    "offset": ("integer", "matches to skip"),
    "limit": ("integer", f"at most this many (up to {MAX_LIMIT})"),
    "after": ("integer", "the page after this file id (the last of the page before): fast at any depth"),
    "before": ("integer", "the page before this file id (the first of the page after)"),
    "fallback": ("boolean", "a placeholder picture instead of 404 when there is no thumbnail"),
}


def api_routes() -> list[Route]:
    """The API's Starlette routes, and ``/api/openapi.json``."""
    routes = [Route(path, view, methods=[method]) for method, path, view, _ in ROUTES]
    routes.append(Route("/api/openapi.json", openapi, methods=["GET"]))
    return routes


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API."""
    paths: dict[str, Any] = {}
    for method, path, view, params in ROUTES:
        oa_path = path.replace(":int}", "}")
        parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "integer"}}
                      for n in ("file_id", "model_id") if "{" + n in path]
        parameters += [{"name": n, "in": "query", "required": False, "schema": {"type": _PARAM_DOC[n][0]},
                        "description": _PARAM_DOC[n][1]} for n in params]
        op: dict[str, Any] = {
            "summary": (view.__doc__ or "").strip().splitlines()[0],
            "operationId": view.__name__,
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}, "400": {"description": "bad query or body"},
                          "404": {"description": "no such file or model"}},
        }
        if method == "POST":
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
            op["parameters"].append({"name": "X-CSRF-Token", "in": "header", "required": True,
                                     "schema": {"type": "string"}, "description": "from GET /api/csrf"})
            op["responses"]["403"] = {"description": "read-only server, or missing/wrong CSRF token"}
        paths.setdefault(oa_path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "printmanager", "version": _version(),
                 "description": "The JSON API of `printmanager serve`; records have the shapes of `--json`."},
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("printmanager")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "0"


def openapi(request: Request) -> Response:
    """The OpenAPI document."""
    return JSONResponse(openapi_document())
