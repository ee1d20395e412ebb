"""Support for the web tests: a library scanned from real corpus files, a real uvicorn server."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx

#: corpus folders the web tests catalogue (meshes, sliced files with pictures, broken files)
CORPUS_PARTS = ("Benchy multi-part", "sliced", "3mf-samples", "more-formats", "broken", "prusaslicer-shapes")


def make_prints(dest: Path, corpus: Path) -> Path:
    """Copy a few corpus folders into ``dest`` (a root of the library)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in CORPUS_PARTS:
        if (corpus / part).is_dir():
            shutil.copytree(corpus / part, dest / part)
    import zipfile

    with zipfile.ZipFile(dest / "Benchy parts.zip", "w", zipfile.ZIP_DEFLATED) as zf:  # a model that is an archive
        for stl in sorted((corpus / "Benchy multi-part").glob("*.stl"))[:2]:
            zf.write(stl, f"parts/{stl.name}")
    return dest


def scanned(library_dir: Path, prints: Path) -> Any:
    """A library over ``prints``, scanned in-process with thumbnails."""
    from printmanager_core import Library

    lib = Library(library_dir)
    lib.scan([prints], workers=1)
    return lib


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", lifespan: str = "off") -> Iterator[str]:
    """Serve ``app`` with a real uvicorn server in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan,
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def client(base: str, **kwargs: Any) -> httpx.Client:
    """An HTTP client for a test server (never a proxy from the environment)."""
    return httpx.Client(base_url=base, timeout=30, trust_env=False, **kwargs)


def csrf_of(http: httpx.Client) -> str:
    """The server's CSRF token."""
    return str(http.get("/api/csrf").json()["csrf_token"])
