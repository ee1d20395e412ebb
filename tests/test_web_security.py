"""The web app's guards, against a real uvicorn server: token, CSRF, read-only, traversal, roots."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from printmanager_web.api import ROUTES
from printmanager_web.app import create_app
from printmanager_web.errors import TokenRequired
from printmanager_web.security import check_bind, is_loopback, new_token
from web_support import client, csrf_of, free_port, make_prints, running, scanned

SECRET = "solid 7f3a9c secret-part beyond every root"
TRAVERSALS = (
    "../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "..\\..\\..\\etc\\passwd",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "1/../../../../etc/passwd",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("websec")
    outside = base / "outside.stl"
    outside.write_text(SECRET)
    prints = make_prints(base / "Prints", corpus)
    lib = scanned(base / "library", prints)
    yield {"lib": lib, "outside": outside, "prints": prints, "base": base}
    lib.close()


def _raw_get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalising of ``..``)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _writes(lib: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every write route with real ids filled in, and a body that would change something."""
    rec = next(f for f in lib.files("format:stl") if not f.archive_path)
    bodies = {
        "file_tags": {"add": ["refused"]},
        "file_notes": {"notes": "refused"},
        "edit_model": {"creator": "refused"},
        "model_tags": {"add": ["refused"]},
        "model_collections": {"add": ["refused"]},
        "start_scan": {},
        # would start a slicer on this computer (none is reached: refused before it runs)
        "open_file_in_slicer": {"slicer": "prusaslicer"},
        "open_model_in_slicer": {"slicer": "prusaslicer"},
    }
    out = []
    for method, path, view, _ in ROUTES:
        if method == "POST":
            url = path.replace("{file_id:int}", str(rec.id)).replace("{model_id:int}", str(rec.model_id))
            out.append((url, bodies[view.__name__]))
    assert len(out) == len(bodies)
    return out


def _unchanged(lib: Any) -> None:
    assert "refused" not in lib.tags()
    assert not lib.files("refused") and not any(m.creator == "refused" for m in lib.models(""))
    assert "refused" not in [c["name"] for c in lib.collections()]


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.com", "localhost.example.com"):
        assert not is_loopback(host), host
        with pytest.raises(TokenRequired):
            check_bind(host, None)
        check_bind(host, new_token())


def test_non_loopback_bind_without_token_refused(world: dict[str, Any]) -> None:
    with pytest.raises(TokenRequired, match="not loopback"):
        create_app(world["lib"], host="0.0.0.0")
    # the command line: without the vault there is nowhere to keep a token, so it refuses (one line)
    env = {**os.environ, "PRINTMANAGER_BLOCK_PLUGINS": "vault"}
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "printmanager_core", "--library", str(world["lib"].directory), "serve",
         "--host", "0.0.0.0", "--port", str(port)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: serving beyond this machine needs an access token"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_or_missing_token_is_401(world: dict[str, Any]) -> None:
    lib = world["lib"]
    token = new_token()
    rec = lib.files("format:stl", limit=1)[0]
    paths = ["/", f"/models/{rec.model_id}", f"/api/files/{rec.id}/download", "/api/files", "/api/openapi.json",
             "/static/app.css", f"/api/files/{rec.id}/thumbnail", "/nowhere"]
    app = create_app(lib, token=token, host="0.0.0.0")
    with running(app) as base:
        with client(base) as http:
            for path in paths:
                assert http.get(path).status_code == 401, path
                assert http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
                assert http.get(path, headers={"Authorization": f"Bearer {token}x"}).status_code == 401, path
                assert http.get(path, params={"token": token[:-1]}).status_code == 401, path
            assert http.post("/api/scan").status_code == 401
            good = {"Authorization": f"Bearer {token}"}
            assert http.get("/", headers=good).status_code == 200
            assert http.get(f"/api/files/{rec.id}/download", headers=good).content == Path(rec.path).read_bytes()
        with client(base) as browser:  # a browser opens the link with the token once, then keeps a cookie
            first = browser.get("/", params={"token": token, "q": "benchy"})
            assert first.status_code == 303 and first.headers["location"] == "/?q=benchy"  # the token leaves the URL
            assert "pm_token" in first.headers["set-cookie"]
            assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
            assert browser.get("/?q=benchy").status_code == 200
            assert browser.get("/api/files").status_code == 200
            # with the token, writes still need the CSRF token
            assert browser.post(f"/api/files/{rec.id}/tags", json={"add": ["refused"]}).status_code == 403
    _unchanged(lib)


def test_csrf_on_every_write(world: dict[str, Any]) -> None:
    lib = world["lib"]
    with running(create_app(lib)) as base, client(base) as http:
        right = csrf_of(http)
        for url, body in _writes(lib):
            assert http.post(url, json=body).status_code == 403, url
            assert http.post(url, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403, url
            assert http.post(url, json=body, headers={"X-CSRF-Token": right[:-1]}).status_code == 403, url
            cross = {"X-CSRF-Token": right, "Origin": "http://evil.example"}
            assert http.post(url, json=body, headers=cross).status_code == 403, url
            assert http.post(url, json=body, headers={"X-CSRF-Token": right, "Origin": "null"}).status_code == 403
            got = http.put(url, json=body)  # any unsafe method is a write
            assert got.status_code == 403, url
            # a form post from another site carries no header: refused too
            form = http.post(url, data={"csrf_token": right, "add": "refused"})
            assert form.status_code == 403, url
        _unchanged(lib)
        rec = lib.files("format:stl", limit=1)[0]
        huge = http.post(f"/api/files/{rec.id}/notes", content=b'{"notes": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                         headers={"X-CSRF-Token": right, "Content-Type": "application/json"})
        assert huge.status_code == 413 and lib.file(rec.id).notes != "x"
        ok = http.post(f"/api/files/{rec.id}/tags", json={"add": ["allowed"]},
                       headers={"X-CSRF-Token": right, "Origin": base})
        assert ok.status_code == 200 and "allowed" in lib.file(rec.id).tags


def test_read_only_refuses_every_write(world: dict[str, Any]) -> None:
    lib = world["lib"]
    with running(create_app(lib, read_only=True)) as base, client(base) as http:
        right = csrf_of(http)
        for url, body in _writes(lib):
            got = http.post(url, json=body, headers={"X-CSRF-Token": right})
            assert got.status_code == 403 and "read-only" in got.json()["error"], url
        rec = lib.files("format:stl", limit=1)[0]
        page = http.get(f"/models/{rec.model_id}").text
        assert "add-tag" not in page and "<textarea" not in page and "read-only" in page
        assert http.get("/api/csrf").json()["read_only"] is True
    _unchanged(lib)


def test_path_traversal_on_every_path_taking_route(world: dict[str, Any]) -> None:
    lib = world["lib"]
    passwd = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else b"root:"
    own_source = (Path(__file__).parents[1] / "plugins" / "printmanager_web" / "app.py").read_bytes()
    templates = [path for _, path, _, _ in ROUTES if "{" in path] + ["/models/{model_id:int}", "/files/{file_id:int}"]
    with running(create_app(lib)) as base:
        for template in templates:
            for attack in TRAVERSALS:
                path = template.replace("{file_id:int}", attack).replace("{model_id:int}", attack)
                status, body = _raw_get(base, path)
                assert status in (400, 404), (path, status)
                assert passwd[:40] not in body and b"root:" not in body, path
        for attack in ("../app.py", "..%2fapp.py", "%2e%2e/app.py", "..%2f..%2fapp.py", "vendor/../../app.py",
                       "%2e%2e%2f%2e%2e%2fpyproject.toml", "....//app.py", "/etc/passwd", "%2fetc%2fpasswd"):
            status, body = _raw_get(base, f"/static/{attack}")
            assert status in (400, 404), (attack, status)
            assert own_source[:60] not in body and b"root:" not in body, attack
        status, _ = _raw_get(base, "/static/app.css")
        assert status == 200


def test_nothing_outside_the_roots_is_served(world: dict[str, Any], tmp_path: Path) -> None:
    from printmanager_core import Library

    root = tmp_path / "root"
    root.mkdir()
    victim = root / "cube.stl"
    stl = next(world["prints"].rglob("*.stl"))
    victim.write_bytes(stl.read_bytes())
    lib = Library(tmp_path / "library")
    lib.scan([root], workers=1, thumbnails=False)
    rec = lib.file(str(victim))
    victim.unlink()
    victim.symlink_to(world["outside"])  # the catalogued name now leads outside the root
    try:
        with running(create_app(lib)) as base, client(base) as http:
            for path in (f"/api/files/{rec.id}/download", f"/api/files/{rec.id}/mesh"):
                got = http.get(path)
                assert got.status_code == 403 and SECRET.encode() not in got.content, path
                assert "outside the library's roots" in got.json()["error"]
            zipped = http.get(f"/api/models/{rec.model_id}/zip")
            assert zipped.status_code == 200 and SECRET.encode() not in zipped.content
            status, body = _raw_get(base, f"/api/files/{rec.id}/download", {"Range": "bytes=0-10"})
            assert status == 403 and SECRET.encode()[:10] not in body
    finally:
        lib.close()


def test_loopback_server_refuses_other_host_names(world: dict[str, Any]) -> None:
    with running(create_app(world["lib"])) as base:
        port = urlsplit(base).port
        for host in ("evil.example", f"evil.example:{port}", "192.168.1.20", "127.0.0.1.evil.example"):
            status, _ = _raw_get(base, "/api/files", {"Host": host})
            assert status == 400, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            status, _ = _raw_get(base, "/api/files", {"Host": host})
            assert status == 200, host
        with client(base) as http:
            got = http.get("/")
            assert got.headers["x-frame-options"] == "DENY" and got.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in got.headers["content-security-policy"]
            assert got.headers["server-timing"].startswith("app;dur=")


def test_pages_escape_what_the_user_typed(world: dict[str, Any]) -> None:
    lib = world["lib"]
    rec = next(f for f in lib.files("format:stl") if not f.archive_path)
    lib.update_model(rec.model_id, creator="<script>alert(1)</script>", source_url="javascript:alert(2)")
    lib.set_file_notes(rec.id, '"><img src=x onerror=alert(3)>')
    try:
        for read_only in (False, True):
            with running(create_app(lib, read_only=read_only)) as base, client(base) as http:
                page = http.get(f"/models/{rec.model_id}").text
                assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
                assert 'href="javascript:' not in page
                assert "<img src=x" not in page
                gallery = http.get("/", params={"q": '"><script>alert(4)</script>'}).text
                assert "<script>alert(4)" not in gallery
    finally:
        lib.update_model(rec.model_id, creator="", source_url="")
        lib.set_file_notes(rec.id, "")
