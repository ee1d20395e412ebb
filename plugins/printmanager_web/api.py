"""The JSON API's reads: the same shapes as ``--json`` on the CLI, over the Library's public methods.

Every route (reads here, writes in :mod:`printmanager_web.edits`) is listed in
:data:`ROUTES`, which the OpenAPI document (``GET /api/openapi.json``) is built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from printmanager_core.errors import PrintManagerError

from . import edits
from .downloads import file_response, model_zip_response
from .mesh import preview_mesh
from .views import MAX_LIMIT, error_response, guarded, int_param, library_of, page_params, state_of

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library


@guarded
def list_files(request: Request) -> Response:
    """One page of files matching ``q``: ``{"total", "offset", "limit", "files": [...], "next": {"after": ID}}``."""
    lib, p = library_of(request), page_params(request)
    files = lib.files_page(p["query"], sort=p["sort"], descending=p["descending"], offset=p["offset"],
                           limit=p["limit"], after=p["after"], before=p["before"] if p["after"] is None else None)
    return JSONResponse({"total": lib.count_files(p["query"]), "offset": p["offset"], "limit": p["limit"],
                         "files": [f.as_json() for f in files],
                         "next": {"after": files[-1].id} if len(files) == p["limit"] else None})


@guarded
def search(request: Request) -> Response:
    """Files matching ``q``, as ``printmanager ls --json`` prints them (at most ``limit``)."""
    lib = library_of(request)
    limit = int_param(request, "limit", MAX_LIMIT, low=1, high=10 * MAX_LIMIT)
    return JSONResponse([f.as_json() for f in lib.files(request.query_params.get("q", ""), limit=limit)])


@guarded
def show_file(request: Request) -> Response:
    """One file, as ``printmanager show --json``."""
    return JSONResponse(library_of(request).file(int(request.path_params["file_id"])).as_json())


@guarded
def download_file(request: Request) -> Response:
    """The file's bytes (``Range`` requests answered for files on disk)."""
    lib = library_of(request)
    return file_response(lib, lib.file(int(request.path_params["file_id"])))


async def file_thumbnail(request: Request) -> Response:
    """The file's thumbnail PNG (made on first request when the thumbnails plugin is installed).

    ``?fallback=1``: a placeholder picture instead of a 404 (for pages).
    """
    lib = library_of(request)
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


async def model_thumbnail(request: Request) -> Response:
    """The model's thumbnail PNG: its best file's (see docs/thumbnails.md); ``?fallback=1`` as for files."""
    lib = library_of(request)
    try:
        model = lib.model(int(request.path_params["model_id"]))
    except PrintManagerError as exc:
        return error_response(exc)
    made = await run_in_threadpool(_best_picture, lib, model.id)
    if made is not None:
        return FileResponse(made, media_type="image/png", headers={"cache-control": "private, max-age=3600"})
    if request.query_params.get("fallback"):
        return FileResponse(NO_PICTURE, media_type="image/svg+xml", headers={"x-thumbnail": "none"})
    return JSONResponse({"error": "no thumbnail for this model"}, status_code=404)


def _best_picture(lib: "Library", model_id: int) -> Path | None:
    try:
        from printmanager_thumbnails import model_thumbnail as best
    except ImportError:
        return None
    try:
        made = best(lib, model_id)
    except PrintManagerError:
        return None
    return None if made is None else Path(made.path)


@guarded
def file_mesh(request: Request) -> Response:
    """The file's mesh for the 3D preview, as binary STL; decimated above a size (see headers)."""
    lib = library_of(request)
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
    found, total = library_of(request).models_page(p["query"], offset=p["offset"], limit=p["limit"])
    return JSONResponse([m.as_json() for m in found], headers={"x-total-count": str(total)})


@guarded
def show_model(request: Request) -> Response:
    """One model with its files, as ``printmanager show --model --json``."""
    lib = library_of(request)
    model = lib.model(int(request.path_params["model_id"]))
    data = model.as_json()
    data["files"] = [f.as_json() for f in lib.model_files(model.id)]
    return JSONResponse(data)


@guarded
def model_zip(request: Request) -> Response:
    """The model's files as one zip, streamed."""
    lib = library_of(request)
    return model_zip_response(lib, lib.model(int(request.path_params["model_id"])))


@guarded
def list_collections(request: Request) -> Response:
    """Every collection: ``[{"id", "name", "description", "models"}]``."""
    return JSONResponse(library_of(request).collections())


@guarded
def list_tags(request: Request) -> Response:
    """Every tag in use and how many files and models carry it: ``{"tag": count}``."""
    return JSONResponse(library_of(request).tags())


def csrf(request: Request) -> Response:
    """The CSRF token writes carry in ``X-CSRF-Token``."""
    return JSONResponse({"csrf_token": state_of(request).csrf_token, "read_only": state_of(request).read_only})


def scan_status(request: Request) -> Response:
    """Whether a scan started here is running, and the report of the last one."""
    return JSONResponse(state_of(request).scans.status())


# -- writing (CSRF-checked and refused in --read-only by the Guard) -------------------



#: (method, path, view, summary, parameters) of every API route
ROUTES: list[tuple[str, str, Callable[..., Any], list[str]]] = [
    ("GET", "/api/files", list_files, ["q", "sort", "desc", "offset", "limit", "after", "before"]),
    ("GET", "/api/search", search, ["q", "limit"]),
    ("GET", "/api/files/{file_id:int}", show_file, []),
    ("GET", "/api/files/{file_id:int}/download", download_file, []),
    ("GET", "/api/files/{file_id:int}/thumbnail", file_thumbnail, ["fallback"]),
    ("GET", "/api/files/{file_id:int}/mesh", file_mesh, []),
    ("POST", "/api/files/{file_id:int}/tags", edits.file_tags, []),
    ("POST", "/api/files/{file_id:int}/notes", edits.file_notes, []),
    ("POST", "/api/files/{file_id:int}/open", edits.open_file_in_slicer, []),
    ("GET", "/api/models", list_models, ["q", "offset", "limit"]),
    ("GET", "/api/models/{model_id:int}", show_model, []),
    ("POST", "/api/models/{model_id:int}", edits.edit_model, []),
    ("GET", "/api/models/{model_id:int}/zip", model_zip, []),
    ("GET", "/api/models/{model_id:int}/thumbnail", model_thumbnail, ["fallback"]),
    ("POST", "/api/models/{model_id:int}/tags", edits.model_tags, []),
    ("POST", "/api/models/{model_id:int}/collections", edits.model_collections, []),
    ("POST", "/api/models/{model_id:int}/open", edits.open_model_in_slicer, []),
    ("GET", "/api/collections", list_collections, []),
    ("GET", "/api/tags", list_tags, []),
    ("GET", "/api/scan", scan_status, []),
    ("POST", "/api/scan", edits.start_scan, []),
    ("GET", "/api/csrf", csrf, []),
]


def api_routes() -> list[Route]:
    """The API's Starlette routes, and ``/api/openapi.json``."""
    from .openapi import openapi

    routes = [Route(path, view, methods=[method]) for method, path, view, _ in ROUTES]
    routes.append(Route("/api/openapi.json", openapi, methods=["GET"]))
    return routes
