"""The JSON API's writes: tags, notes, model fields, collections, scans.

The Guard refuses them without the CSRF token and in read-only mode; each goes
through the Library's public methods, in the thread pool.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from printmanager_core.errors import UsageError

from .views import guarded_async, json_body, library_of, names_in, state_of


@guarded_async
async def start_scan(request: Request) -> Response:
    """Scan every root in the background; ``202`` with the status (``409`` if one runs)."""
    scans = state_of(request).scans
    if not scans.start():
        return JSONResponse({"error": "a scan is already running", **scans.status()}, status_code=409)
    return JSONResponse(scans.status(), status_code=202)


#: where a request may come from to start a program on the computer that serves (``open``)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@guarded_async
async def open_file_in_slicer(request: Request) -> Response:
    """``{"slicer": "prusaslicer"}``: open the file in that slicer, installed on this computer;
    ``{"argv", "pid"}``. Only from a browser on this computer (a loopback client)."""
    return await _open(request, int(request.path_params["file_id"]), model=False)


@guarded_async
async def open_model_in_slicer(request: Request) -> Response:
    """``{"slicer": "prusaslicer"}``: open the model's mesh files in that slicer; ``{"argv", "pid"}``."""
    return await _open(request, int(request.path_params["model_id"]), model=True)


async def _open(request: Request, target: int, *, model: bool) -> Response:
    from printmanager_core.printing.slicers import open_target

    client = request.client.host if request.client else ""
    if client not in LOOPBACK:
        return JSONResponse({"error": "open in slicer starts a program on the computer that serves: "
                                      "only a browser on that computer may ask"}, status_code=403)  # fmt: skip
    body = await json_body(request)
    slicer = body.get("slicer")
    if not isinstance(slicer, str) or not slicer:
        raise UsageError('"slicer" names the slicer to open (prusaslicer, orca, bambu, cura or superslicer)')
    argv, pid = await run_in_threadpool(open_target, library_of(request), target, slicer, model=model)
    return JSONResponse({"argv": argv, "pid": pid})


@guarded_async
async def file_tags(request: Request) -> Response:
    """``{"add": [...], "remove": [...]}`` tags of a file; the file as JSON."""
    body = await json_body(request)
    return JSONResponse((await run_in_threadpool(_edit_tags, request, body, "file")).as_json())


@guarded_async
async def model_tags(request: Request) -> Response:
    """``{"add": [...], "remove": [...]}`` tags of a model; the model as JSON."""
    body = await json_body(request)
    return JSONResponse((await run_in_threadpool(_edit_tags, request, body, "model")).as_json())


def _edit_tags(request: Request, body: dict[str, Any], kind: str) -> Any:
    lib = library_of(request)
    add, remove = names_in(body, "add"), names_in(body, "remove")
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
    body = await json_body(request)
    notes = body.get("notes")
    if not isinstance(notes, str):
        raise UsageError("notes must be a string")
    lib, file_id = library_of(request), int(request.path_params["file_id"])
    return JSONResponse((await run_in_threadpool(lib.set_file_notes, file_id, notes)).as_json())


@guarded_async
async def edit_model(request: Request) -> Response:
    """Set ``name``, ``creator``, ``source_url``, ``licence`` or ``notes`` of a model."""
    body = await json_body(request)
    if not all(isinstance(v, str) for v in body.values()):
        raise UsageError("model fields must be strings")
    lib, model_id = library_of(request), int(request.path_params["model_id"])
    return JSONResponse((await run_in_threadpool(lambda: lib.update_model(model_id, **body))).as_json())


@guarded_async
async def model_collections(request: Request) -> Response:
    """``{"add": [...], "remove": [...]}`` collections of a model; the model as JSON."""
    body = await json_body(request)
    return JSONResponse((await run_in_threadpool(_edit_collections, request, body)).as_json())


def _edit_collections(request: Request, body: dict[str, Any]) -> Any:
    lib = library_of(request)
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
