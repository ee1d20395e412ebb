"""The web app's JSON API and pages, over a real uvicorn server on 127.0.0.1 and real corpus files."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from click.testing import CliRunner
from starlette.responses import JSONResponse
from starlette.routing import Route

from printmanager_core import hookimpl
from printmanager_core.cli import cli, load_commands
from printmanager_core.plugins import register_plugin, unregister_plugin
from printmanager_web.api import ROUTES
from printmanager_web.app import create_app, plugin_routes
from printmanager_web.mesh import decimate, preview_mesh
from web_support import client, csrf_of, make_prints, running, scanned


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Iterator[dict[str, Any]]:
    base_dir = tmp_path_factory.mktemp("web")
    prints = make_prints(base_dir / "Prints", corpus)
    lib = scanned(base_dir / "library", prints)
    app = create_app(lib)
    with running(app) as base:
        yield {"lib": lib, "base": base, "app": app, "library_dir": base_dir / "library", "prints": prints}
    lib.close()


def _cli_json(library_dir: Path, *args: str) -> Any:
    load_commands()
    result = CliRunner().invoke(cli, ["--library", str(library_dir), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _stl(lib: Any) -> Any:
    return next(f for f in lib.files("format:stl") if f.triangles and not f.archive_path)


def test_search_has_the_json_of_ls(served: dict[str, Any]) -> None:
    with client(served["base"]) as http:
        for query in ("format:stl", "benchy", "has:error", "triangles>1000 -format:3mf"):
            api = http.get("/api/search", params={"q": query})
            assert api.status_code == 200
            assert api.json() == _cli_json(served["library_dir"], "ls", "--json", "--", query)
            assert api.json(), query  # the corpus has files for each of these


def test_files_pages_in_sort_order(served: dict[str, Any]) -> None:
    lib = served["lib"]
    everything = lib.files("")
    with client(served["base"]) as http:
        seen: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = http.get("/api/files", params={"sort": "size", "desc": "1", "offset": offset, "limit": 7}).json()
            assert page["total"] == len(everything)
            if not page["files"]:
                break
            seen += page["files"]
            offset += 7
    assert sorted(f["id"] for f in seen) == sorted(f.id for f in everything)
    sizes = [f["size_bytes"] for f in seen if f["size_bytes"] is not None]
    assert sizes == sorted(sizes, reverse=True)
    assert lib.count_files("format:stl") == len(lib.files("format:stl"))
    by_triangles = lib.files_page("triangles>0", sort="triangles", limit=1000)
    assert [f.triangles for f in by_triangles] == sorted(f.triangles for f in lib.files("triangles>0"))


def test_models_and_collections_and_tags_have_the_cli_shapes(served: dict[str, Any]) -> None:
    lib = served["lib"]
    model = lib.model(_stl(lib).model_id)
    with client(served["base"]) as http:
        assert http.get(f"/api/models/{model.id}").json() == _cli_json(
            served["library_dir"], "show", "--model", "--json", str(model.id))
        assert http.get("/api/models", params={"q": "format:stl", "limit": 1000}).json() == _cli_json(
            served["library_dir"], "models", "--json", "format:stl")
        assert http.get("/api/collections").json() == lib.collections()
        assert http.get("/api/tags").json() == lib.tags()
        assert http.get("/api/files/999999").status_code == 404
        assert "unknown field" in http.get("/api/files", params={"q": "colour:red"}).json()["error"]


def test_download_is_the_file_and_answers_ranges(served: dict[str, Any]) -> None:
    rec = _stl(served["lib"])
    original = Path(rec.path).read_bytes()
    with client(served["base"]) as http:
        whole = http.get(f"/api/files/{rec.id}/download")
        assert whole.status_code == 200 and whole.content == original
        assert rec.name in whole.headers["content-disposition"]
        part = http.get(f"/api/files/{rec.id}/download", headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == original[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(original)}"


def test_archive_member_download_is_the_member(served: dict[str, Any]) -> None:
    lib = served["lib"]
    members = [f for f in lib.files("path:.zip!/") if not f.error]
    assert len(members) == 2  # web_support.make_prints zips two corpus STL files
    rec = members[0]
    with zipfile.ZipFile(rec.archive_path) as zf:
        expected = zf.read(rec.path.split("!/", 1)[1])
    with client(served["base"]) as http:
        assert http.get(f"/api/files/{rec.id}/download").content == expected


def test_model_zip_holds_every_file(served: dict[str, Any]) -> None:
    lib = served["lib"]
    model = lib.model(_stl(lib).model_id)
    files = lib.model_files(model.id)
    with client(served["base"]) as http:
        response = http.get(f"/api/models/{model.id}/zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert sorted(zf.namelist()) == sorted(f.name for f in files)
        for f in files:
            with lib.open_file(f) as fh:
                assert zf.read(f.name) == fh.read()


def test_thumbnails_are_pngs(served: dict[str, Any]) -> None:
    lib = served["lib"]
    with client(served["base"]) as http:
        for rec in lib.files("has:thumbnail", limit=5):
            got = http.get(f"/api/files/{rec.id}/thumbnail")
            assert got.status_code == 200 and got.content.startswith(b"\x89PNG\r\n\x1a\n")
            assert got.headers["content-type"] == "image/png"


def test_mesh_preview_is_the_mesh_as_binary_stl(served: dict[str, Any]) -> None:
    lib = served["lib"]
    rec = _stl(lib)
    with client(served["base"]) as http:
        got = http.get(f"/api/files/{rec.id}/mesh")
        assert got.status_code == 200
        (count,) = struct.unpack("<I", got.content[80:84])
        assert count == rec.triangles == int(got.headers["x-source-triangles"])
        assert len(got.content) == 84 + 50 * count and got.headers["x-preview-decimated"] == "0"
        gcode = next(iter(lib.files("format:gcode", limit=1)))
        assert http.get(f"/api/files/{gcode.id}/mesh").status_code == 422
    for fmt in ("3mf", "obj", "ply"):
        mesh_file = next((f for f in lib.files(f"format:{fmt} triangles>0") if not f.archive_path), None)
        if mesh_file is not None:
            assert preview_mesh(lib, mesh_file).triangles == mesh_file.triangles, fmt


def test_huge_mesh_preview_is_decimated_and_says_so(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from printmanager_web import mesh

    lib = served["lib"]
    rec = max((f for f in lib.files("triangles>0") if not f.archive_path), key=lambda f: f.triangles)
    monkeypatch.setattr(mesh, "MAX_PREVIEW_TRIANGLES", rec.triangles // 10)  # the server runs in this process
    with client(served["base"]) as http:
        got = http.get(f"/api/files/{rec.id}/mesh")
    assert got.headers["x-preview-decimated"] == "1"
    shown = int(got.headers["x-preview-triangles"])
    assert 0 < shown <= rec.triangles // 10 and int(got.headers["x-source-triangles"]) == rec.triangles
    assert struct.unpack("<I", got.content[80:84])[0] == shown


def test_decimated_preview_keeps_the_shape(served: dict[str, Any]) -> None:
    lib = served["lib"]
    rec = max((f for f in lib.files("format:stl triangles>0") if not f.archive_path), key=lambda f: f.triangles)
    small = preview_mesh(lib, rec, max_triangles=rec.triangles // 4)
    assert small.decimated and 0 < small.triangles <= rec.triangles // 4
    tris = np.frombuffer(small.stl[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])["v"]
    size = tris.reshape(-1, 3).max(axis=0) - tris.reshape(-1, 3).min(axis=0)
    assert np.allclose(size, rec.bbox_mm, rtol=0.15), (size, rec.bbox_mm)
    assert len(decimate(tris.astype(np.float32), 10)) <= 10


def test_openapi_lists_every_route(served: dict[str, Any]) -> None:
    with client(served["base"]) as http:
        doc = http.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    from openapi_spec_validator import validate

    validate(doc)  # a valid OpenAPI 3.1 document
    for method, path, view, _ in ROUTES:
        op = doc["paths"][path.replace(":int}", "}")][method.lower()]
        assert op["operationId"] == view.__name__ and op["summary"]


def test_edits_go_through_the_library(served: dict[str, Any]) -> None:
    lib = served["lib"]
    rec = _stl(lib)
    with client(served["base"]) as http:
        headers = {"X-CSRF-Token": csrf_of(http)}
        got = http.post(f"/api/files/{rec.id}/tags", json={"add": ["web-edited", "gift"]}, headers=headers)
        assert got.status_code == 200 and {"web-edited", "gift"} <= set(got.json()["tags"])
        http.post(f"/api/files/{rec.id}/tags", json={"remove": ["gift"]}, headers=headers)
        assert "gift" not in lib.file(rec.id).tags and "web-edited" in lib.file(rec.id).tags
        assert [f.id for f in lib.files("tag:web-edited")] == [rec.id]
        http.post(f"/api/files/{rec.id}/notes", json={"notes": "printed at 0.2 mm"}, headers=headers)
        assert lib.file(rec.id).notes == "printed at 0.2 mm"
        got = http.post(f"/api/models/{rec.model_id}", json={"creator": "Creative Tools", "licence": "CC-BY"},
                        headers=headers)
        assert got.json()["creator"] == "Creative Tools" and lib.model(rec.model_id).licence == "CC-BY"
        http.post(f"/api/models/{rec.model_id}/tags", json={"add": ["boat"]}, headers=headers)
        assert "boat" in lib.model(rec.model_id).tags
        http.post(f"/api/models/{rec.model_id}/collections", json={"add": ["Boats"]}, headers=headers)
        assert lib.model(rec.model_id).collections == ("Boats",)
        bad = http.post(f"/api/models/{rec.model_id}", json={"colour": "red"}, headers=headers)
        assert bad.status_code == 400 and "cannot set colour" in bad.json()["error"]
        bad = http.post(f"/api/files/{rec.id}/tags", json={"add": ["two words"]}, headers=headers)
        assert bad.status_code == 400 and "one word" in bad.json()["error"]
        assert http.post(f"/api/files/{rec.id}/notes", content=b"not json", headers=headers).status_code == 400


def test_scan_trigger(served: dict[str, Any]) -> None:
    with client(served["base"]) as http:
        started = http.post("/api/scan", headers={"X-CSRF-Token": csrf_of(http)})
        assert started.status_code == 202
        served["app"].state.web.scans.wait(120)
        status = http.get("/api/scan").json()
    assert status["running"] is False and status["error"] is None
    assert status["last"]["unchanged"] == len(served["lib"].files(""))


def test_gallery_page_filters_and_pages(served: dict[str, Any]) -> None:
    lib = served["lib"]
    with client(served["base"]) as http:
        page = http.get("/", params={"q": "benchy"})
        assert page.status_code == 200 and "content-security-policy" in page.headers
        for f in lib.files("benchy", limit=60):
            assert f'data-file-id="{f.id}"' in page.text
        only_3mf = http.get("/", params={"format": "3mf"}).text
        assert only_3mf.count('class="card') == min(60, lib.count_files("format:3mf"))
        broken = http.get("/", params={"errors": "1"}).text
        assert all(f'data-file-id="{f.id}"' in broken for f in lib.files("has:error", limit=60))
        lib.add_to_collection("Harbour", _stl(lib).model_id)
        assert '<option value="Harbour"' in http.get("/").text  # the collection filter offers it
        in_harbour = http.get("/", params={"collection": "Harbour"}).text
        assert in_harbour.count('class="card') == len(lib.files("collection:Harbour"))
        bad = http.get("/", params={"q": "colour:red"})
        assert bad.status_code == 400 and "unknown field" in bad.text


def test_model_page_shows_figures_in_human_units(served: dict[str, Any]) -> None:
    lib = served["lib"]
    rec = _stl(lib)
    with client(served["base"]) as http:
        page = http.get(f"/models/{rec.model_id}").text
        assert " × " in page and " mm" in page and ("cm³" in page or "mm³" in page)
        assert f'/api/files/{rec.id}/download' in page and 'class="show-preview"' in page
        sliced = next(f for f in lib.files("time>0") if f.slicer.get("filament_g"))
        page = http.get(f"/models/{sliced.model_id}").text
        assert "Print time" in page and " min" in page and " g" in page
        assert http.get("/models/999999").status_code == 404
        redirect = http.get(f"/files/{rec.id}")
        assert redirect.status_code == 303 and redirect.headers["location"] == f"/models/{rec.model_id}#file-{rec.id}"


class RoutesPlugin:
    """A third-party plugin adding two routes, one of them on a path the app already has."""

    @hookimpl
    def register_routes(self, register: Any) -> None:
        def hello(request: Any) -> JSONResponse:
            return JSONResponse({"files": request.app.state.web.library.count_files("")})

        def poke(request: Any) -> JSONResponse:
            return JSONResponse({"poked": True})

        register(Route("/hello", hello, methods=["GET"]))
        register(Route("/hello/poke", poke, methods=["POST"]))
        register(Route("/", hello, methods=["GET"]))


def test_register_routes_adds_guarded_routes(served: dict[str, Any]) -> None:
    lib = served["lib"]
    register_plugin(RoutesPlugin(), name="routes-plugin")
    try:
        app = create_app(lib)
        assert any(c.startswith("/ (from routes-plugin)") for c in app.state.web.route_clashes)
        with running(app) as base, client(base) as http:
            assert http.get("/hello").json() == {"files": lib.count_files("")}
            assert http.get("/").headers["content-type"].startswith("text/html")  # the gallery kept "/"
            assert http.post("/hello/poke").status_code == 403  # no CSRF token
            assert http.post("/hello/poke", headers={"X-CSRF-Token": csrf_of(http)}).json() == {"poked": True}
        read_only = create_app(lib, read_only=True)
        with running(read_only) as base, client(base) as http:
            assert http.post("/hello/poke", headers={"X-CSRF-Token": csrf_of(http)}).status_code == 403
    finally:
        unregister_plugin("routes-plugin")
    routes, clashes = plugin_routes(set())
    assert clashes == [] and all(getattr(r, "path", "").startswith("/s/") for r in routes)  # the share gateway's only


def test_gallery_pager_walks_every_file(served: dict[str, Any]) -> None:
    import re

    lib = served["lib"]
    from printmanager_web import pages as pages_module

    seen: list[int] = []
    with client(served["base"]) as http:
        url = "/?sort=triangles&desc=1"
        old = pages_module.PAGE_SIZE
        pages_module.PAGE_SIZE = 7  # small pages over the corpus library
        try:
            for _ in range(100):
                text = http.get(url).text
                seen += [int(x) for x in re.findall(r'<li class="card[^"]*" data-file-id="(\d+)"', text)]
                nxt = re.search(r'<a href="([^"]+)" rel="next">', text)
                if not nxt:
                    break
                url = nxt.group(1).replace("&amp;", "&")
                assert "after=" in url
        finally:
            pages_module.PAGE_SIZE = old
    assert seen == [f.id for f in lib.files_page("", sort="triangles", descending=True, limit=10_000)]


def test_gallery_of_models_and_their_thumbnails(served: dict[str, Any]) -> None:
    lib = served["lib"]
    models, total = lib.models_page("format:stl", limit=60)
    with client(served["base"]) as http:
        page = http.get("/", params={"view": "models", "q": "format:stl"})
        assert page.status_code == 200 and f"{total} model" in page.text
        assert [int(x) for x in __import__("re").findall(r'data-model-id="(\d+)"', page.text)] == [m.id for m in models]
        pictured = http.get(f"/api/models/{models[0].id}/thumbnail")
        assert pictured.status_code == 200 and pictured.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert http.get("/api/models/999999/thumbnail").status_code == 404
        broken = next(f for f in lib.files("has:error") if not f.thumbnail)
        assert http.get(f"/api/files/{broken.id}/thumbnail").status_code == 404
        placeholder = http.get(f"/api/files/{broken.id}/thumbnail", params={"fallback": "1"})
        assert placeholder.status_code == 200 and placeholder.headers["x-thumbnail"] == "none"
        assert placeholder.headers["content-type"].startswith("image/svg+xml")


def test_a_running_server_applies_retention_on_its_schedule(tmp_path: Path) -> None:
    import datetime as dt
    import time

    from printmanager_core import Library
    from printmanager_core.privacy.sharing import Shares

    with Library(tmp_path / "lib") as lib:
        shares = Shares.for_library(lib)
        link = shares.share("model", 1, recipient="someone@example.org")
        shares.log_access(link.token, client="old-client", at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400))
        assert len(shares.as_json()["access_log"]) == 1
        with running(create_app(lib, retention_every_s=0.2), lifespan="on"):
            deadline = time.monotonic() + 20
            while shares.as_json()["access_log"] and time.monotonic() < deadline:
                time.sleep(0.05)
        assert shares.as_json()["access_log"] == []  # the expired entry went while the server ran


def test_open_in_slicer_starts_the_installed_slicer_for_a_local_browser(
    served: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model page's "Open in slicer" posts to /api/files/ID/open: the slicer installed here
    (a real program on PATH that writes down its arguments) starts with the file."""
    import os
    import time

    record = tmp_path / "argv.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "prusa-slicer"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    lib = served["lib"]
    rec = _stl(lib)
    with client(served["base"]) as http:
        page = http.get(f"/models/{rec.model_id}").text
        assert 'class="open-slicer"' in page and '<option value="prusaslicer">' in page
        assert http.post(f"/api/files/{rec.id}/open", json={"slicer": "prusaslicer"}).status_code == 403  # no token
        headers = {"X-CSRF-Token": csrf_of(http)}
        got = http.post(f"/api/files/{rec.id}/open", json={"slicer": "prusaslicer"}, headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["argv"] == [str(fake), rec.path]
        deadline = time.monotonic() + 10
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.read_text().splitlines() == [rec.path]
        model = http.post(f"/api/models/{rec.model_id}/open", json={"slicer": "prusaslicer"}, headers=headers)
        assert model.status_code == 200 and rec.path in model.json()["argv"]
        bad = http.post(f"/api/files/{rec.id}/open", json={}, headers=headers)
        assert bad.status_code == 400 and "names the slicer" in bad.json()["error"]
        unknown = http.post(f"/api/files/{rec.id}/open", json={"slicer": "slic3rx"}, headers=headers)
        assert unknown.status_code == 400


def test_open_in_slicer_refuses_a_browser_on_another_computer(served: dict[str, Any]) -> None:
    """Starting a program is for a browser on the serving computer only (a LAN client gets 403)."""
    from starlette.testclient import TestClient

    rec = _stl(served["lib"])
    with TestClient(served["app"], base_url=served["base"], client=("192.168.1.20", 50000)) as http:
        token = http.get("/api/csrf").json()["csrf_token"]
        got = http.post(f"/api/files/{rec.id}/open", json={"slicer": "prusaslicer"}, headers={"X-CSRF-Token": token})
    assert got.status_code == 403 and "only a browser on that computer" in got.json()["error"]
