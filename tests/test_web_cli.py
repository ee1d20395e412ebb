"""``printmanager serve`` as a real process: loopback without a token, beyond it with the vault's token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from web_support import free_port, make_prints, scanned

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    base = tmp_path_factory.mktemp("webcli")
    lib = scanned(base / "library", make_prints(base / "Prints", corpus))
    lib.close()
    return base / "library"


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int):
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"
        self.stderr = ""

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        self.stderr += err
        return self.stderr


def _env() -> dict[str, str]:
    env = {**os.environ, "PRINTMANAGER_VAULT_PASSPHRASE": PASS, "PRINTMANAGER_VAULT_BACKEND": "passphrase"}
    env.pop("PRINTMANAGER_VAULT_NEW_PASSPHRASE", None)
    return env


def _serve(library_dir: Path, *args: str) -> Iterator[Served]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "printmanager_core", "--library", str(library_dir), "serve", "--port", str(port), *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env(),
    )
    served = Served(proc, port)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(served.base + "/api/csrf", timeout=2, trust_env=False)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("serve did not start") from None
            time.sleep(0.1)
    try:
        yield served
    finally:
        if proc.poll() is None:
            served.stop()


def test_serve_on_loopback_needs_no_token(library_dir: Path) -> None:
    for served in _serve(library_dir, "--read-only"):
        files = httpx.get(served.base + "/api/files", trust_env=False)
        assert files.status_code == 200 and files.json()["total"] > 0
        csrf = httpx.get(served.base + "/api/csrf", trust_env=False).json()
        assert csrf["read_only"] is True
        refused = httpx.post(served.base + "/api/scan", headers={"X-CSRF-Token": csrf["csrf_token"]}, trust_env=False)
        assert refused.status_code == 403
        err = served.stop()
    assert f"on http://127.0.0.1:{served.port}/ (read-only)" in err
    assert "token" not in err.lower()


def test_serve_beyond_loopback_keeps_its_token_in_the_vault(library_dir: Path) -> None:
    for served in _serve(library_dir, "--host", "0.0.0.0"):
        assert httpx.get(served.base + "/api/files", trust_env=False).status_code == 401
        # the token is on stderr once; read it from what the process printed so far
        time.sleep(0.2)
        served.stop()
        err = served.stderr
    assert "0.0.0.0 is not loopback: every request needs the access token." in err
    token = re.search(r"Access token \(shown once; kept in the vault as 'web.token'\): (\S+)", err).group(1)
    assert f"?token={token}" in err

    for served in _serve(library_dir, "--host", "0.0.0.0"):  # the second time: the same token, not shown
        good = httpx.get(served.base + "/api/files", headers={"Authorization": f"Bearer {token}"}, trust_env=False)
        assert good.status_code == 200
        assert httpx.get(served.base + "/api/files", headers={"Authorization": "Bearer nope"},
                         trust_env=False).status_code == 401
        err = served.stop()
    assert token not in err and "printmanager secrets get web.token" in err

    got = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(library_dir), "secrets", "get",
                          "web.token"], capture_output=True, text=True, env=_env(), timeout=60)
    assert got.stdout.strip() == token

    for served in _serve(library_dir, "--host", "0.0.0.0", "--new-token"):
        assert httpx.get(served.base + "/api/files", headers={"Authorization": f"Bearer {token}"},
                         trust_env=False).status_code == 401
        err = served.stop()
    new = re.search(r"Access token \(shown once; kept in the vault as 'web.token'\): (\S+)", err).group(1)
    assert new != token
