"""The OpenAPI document of the JSON API (``GET /api/openapi.json``), built from :data:`api.ROUTES`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .api import ROUTES
from .views import MAX_LIMIT

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
