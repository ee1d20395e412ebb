"""The HTML pages: the gallery (a thumbnail grid with the query language) and a model's page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from printmanager_core.errors import NotFound, PrintManagerError

from .views import state_of
from .mesh import MAX_PREVIEW_TRIANGLES, can_preview

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.records import FileRecord, ModelRecord

PAGE_SIZE = 60
#: the formats offered in the gallery's format filter
FORMATS = ("stl", "3mf", "obj", "ply", "off", "amf", "glb", "gltf", "step", "gcode", "bgcode", "gcode.3mf")
#: the gallery's sort choices: (value, label)
SORTS = (("name", "name"), ("date", "date modified"), ("size", "size"), ("triangles", "triangles"),
         ("time", "print time"), ("path", "path"))


def _quoted(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value


def gallery_query(params: Any) -> str:
    """The query a gallery request asks for: the search box and the filters, as one query."""
    terms = [params.get("q", "").strip()]
    if params.get("format"):
        terms.append(f"format:{params['format']}")
    if params.get("tag"):
        terms.append(f"tag:{_quoted(params['tag'])}")
    if params.get("collection"):
        terms.append(f"collection:{_quoted(params['collection'])}")
    if params.get("printer"):
        terms.append(f"printer:{_quoted(params['printer'])}")
    if params.get("errors"):
        terms.append("has:error")
    return " ".join(t for t in terms if t)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    web = state_of(request)
    context = {"csrf_token": web.csrf_token, "read_only": web.read_only, "nonce": web.nonce(), **context}
    response = web.templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["content-security-policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        f"script-src 'self' 'nonce-{context['nonce']}'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


def _number(raw: str | None, default: int) -> int:
    try:
        return max(1, int(raw)) if raw else default
    except ValueError:
        return default


def gallery(request: Request) -> Response:
    """``/``: the thumbnail grid."""
    web = state_of(request)
    lib = web.library
    params = request.query_params
    query = gallery_query(params)
    sort = params.get("sort") or "name"
    descending = params.get("desc") in ("1", "on", "true")
    page = _number(params.get("page"), 1)
    after, before = _number(params.get("after"), 0) or None, _number(params.get("before"), 0) or None
    error = None
    files: list[FileRecord] = []
    models: list[ModelRecord] = []
    total = 0
    view = "models" if params.get("view") == "models" else "files"
    try:
        if view == "models":
            models, total = lib.models_page(query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        else:
            total = lib.count_files(query)
            files = lib.files_page(query, sort=sort, descending=descending, offset=(page - 1) * PAGE_SIZE,
                                   limit=PAGE_SIZE, after=after, before=before if after is None else None)
    except PrintManagerError as exc:
        error = str(exc)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    keep = {k: v for k, v in params.items() if k not in ("page", "after", "before") and v}

    def page_url(n: int) -> str:
        """The link to page ``n`` (the next or the previous one: keyset, fast at any depth)."""
        cursor: dict[str, Any] = {}
        if files and n == page + 1:
            cursor = {"after": files[-1].id}
        elif files and n == page - 1 and n > 1:
            cursor = {"before": files[0].id}
        return "/?" + urlencode({**keep, "page": n, **cursor})

    return _render(request, "gallery.html", {
        "files": files, "models": models, "view": view, "total": total, "page": page, "pages": pages, "page_url": page_url,
        "params": params, "query": query, "error": error, "sort": sort, "descending": descending,
        "formats": FORMATS, "sorts": SORTS, "tags": list(lib.tags()),
        "collections": [c["name"] for c in lib.collections()],
    }, status=400 if error else 200)


def model_page(request: Request) -> Response:
    """``/models/{id}``: a model's files, figures, pictures, tags, notes and collections."""
    web = state_of(request)
    lib = web.library
    try:
        model = lib.model(int(request.path_params["model_id"]))
    except NotFound as exc:
        return _render(request, "error.html", {"message": str(exc)}, status=404)
    files = lib.model_files(model.id)
    previewable = {f.id: can_preview(f) for f in files}
    return _render(request, "model.html", {
        "model": model, "files": files, "previewable": previewable, "max_preview": MAX_PREVIEW_TRIANGLES,
        "all_collections": [c["name"] for c in lib.collections()],
        "slicers": _installed_slicers(),
    })


def _installed_slicers() -> list[tuple[str, str]]:
    """(key, title) of each slicer installed on this computer, for the "Open in slicer" buttons."""
    from printmanager_core.errors import PrintManagerError
    from printmanager_core.printing.slicers import SLICERS, find_slicer

    found = []
    for key, kind in SLICERS.items():
        try:
            find_slicer(key)
        except PrintManagerError:
            continue
        found.append((key, kind.title))
    return found


def file_page(request: Request) -> Response:
    """``/files/{id}``: the file's place on its model's page."""
    lib = state_of(request).library
    try:
        rec = lib.file(int(request.path_params["file_id"]))
    except NotFound as exc:
        return _render(request, "error.html", {"message": str(exc)}, status=404)
    return RedirectResponse(f"/models/{rec.model_id}#file-{rec.id}", status_code=303)


def page_routes() -> list[Route]:
    """The HTML routes."""
    return [
        Route("/", gallery, methods=["GET"]),
        Route("/models/{model_id:int}", model_page, methods=["GET"]),
        Route("/files/{file_id:int}", file_page, methods=["GET"]),
    ]
