"""The browser leg of Google sign-in: a real ``printmanager account login --google`` process, a real
headless Chromium (Debian's, driven by Playwright) on a real sign-in page.

``account login --google`` opens the system browser with Python's webbrowser, which honours
``BROWSER``: here a small command that hands the address to the test, whose Chromium opens it.
The chain is all real HTTP on 127.0.0.1: GoTrue's ``/authorize`` (tests/gotrue_server.py) sends
Chromium to an OpenID Connect provider's sign-in and consent page (tests/oidc_provider.py),
which Chromium fills and submits; the provider redirects to GoTrue's callback, GoTrue trades
the provider's code for an ``id_token`` server to server and redirects to the CLI's loopback
listener on an ephemeral port with the PKCE code; the CLI trades it for tokens and ends.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from cli_support import run
from gotrue_server import ANON_KEY, GoTrue, RunningGoTrue
from gotrue_server import serve as serve_gotrue
from oidc_provider import CLIENT_ID, CLIENT_SECRET, OIDCProvider
from oidc_provider import serve as serve_oidc
from vault_support import passphrase_vault
from printmanager_account import SignInFailed, SupabaseProvider
from printmanager_account.loopback import sign_in_with_browser
from printmanager_vault import Vault, store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EMAIL = "grace@example.org"
PASSWORD = "compiler"
HAND_OVER = """#!{python}
import os, sys
path = {path!r}
with open(path + ".part", "w") as f:
    f.write(sys.argv[1])
os.replace(path + ".part", path)
"""


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    with passphrase_vault(monkeypatch):
        yield


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[OIDCProvider, RunningGoTrue]]:
    oidc = OIDCProvider()
    oidc.add_user(EMAIL, PASSWORD, "Grace Hopper")
    for issuer in serve_oidc(oidc):
        def external_email(code: str, callback: str) -> str:
            """GoTrue's side of the code: trade it at the provider's token endpoint, verify the id_token."""
            answer = httpx.post(f"{issuer}/token", data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": callback,
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=10)
            answer.raise_for_status()
            return str(oidc.verify_id_token(answer.json()["id_token"])["email"])

        state = GoTrue(provider_authorize=f"{issuer}/authorize", external_email=external_email)
        for gotrue in serve_gotrue(state):
            yield oidc, gotrue


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def _login_process(tmp_path: Path, lib: Path, gotrue: RunningGoTrue) -> tuple[subprocess.Popen[str], Path]:
    """``printmanager account login --google`` in its own process, its browser the hand-over command."""
    Vault(lib, prompt=None).set("test.placeholder", "x")  # the vault's key file, at the cheap test cost
    handed = tmp_path / "url.txt"
    opener = tmp_path / "hand-over"
    opener.write_text(HAND_OVER.format(python=sys.executable, path=str(handed)))
    opener.chmod(0o755)
    env = {**os.environ, "BROWSER": str(opener), store.ENV_PASSPHRASE: "vault pass", store.ENV_BACKEND: "passphrase"}
    process = subprocess.Popen(
        [sys.executable, "-m", "printmanager_core", "--library", str(lib), "account", "login", "--google",
         "--url", gotrue.url, "--anon-key", ANON_KEY],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not handed.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the CLI handed no address to the browser: {process.communicate()}")
        time.sleep(0.05)
    return process, handed


def test_google_sign_in_in_headless_chromium(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            servers: tuple[OIDCProvider, RunningGoTrue], chromium: Any) -> None:
    oidc, gotrue = servers
    lib = tmp_path / "lib"
    process, handed = _login_process(tmp_path, lib, gotrue)
    page = chromium.new_page()
    try:
        page.goto(handed.read_text())  # GoTrue's /authorize sends the browser on to the provider
        assert page.url.startswith(f"{oidc.issuer}/authorize?") and page.title() == "Sign in - Test Identity"
        assert "gotrue" in page.locator("#client").inner_text()
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", "not the password")
        page.click("button[value=allow]")
        assert page.locator("#error").inner_text() == "Wrong email or password."  # the page again, no code
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[value=allow]")
        page.wait_for_url("http://127.0.0.1:*/callback?code=*", timeout=15000)
        assert "Signed in." in page.locator("body").inner_text()
    finally:
        page.close()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.strip() == f"Signed in as {EMAIL}"
    assert "token:pkce" in gotrue.state.requests and oidc.requests.count("token") == 1
    code, status, err = run(capsys, lib, "account", "status", "--json")
    assert code == 0, err
    assert json.loads(status)["signed_in"] is True and json.loads(status)["account"]["email"] == EMAIL


def test_denying_consent_in_chromium_is_a_refused_sign_in(
        servers: tuple[OIDCProvider, RunningGoTrue], chromium: Any) -> None:
    """The same chain in this process (no second CLI start-up): Deny on the consent page comes
    back through GoTrue to the loopback listener as an error, shown in the browser and raised."""
    _, gotrue = servers
    handed: queue.Queue[str] = queue.Queue()
    outcome: list[BaseException] = []

    def sign_in() -> None:
        provider = SupabaseProvider(gotrue.url, ANON_KEY)
        try:
            sign_in_with_browser(provider, "google", open_browser=handed.put, timeout=30)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)
        finally:
            provider.close()

    asked = len(gotrue.state.requests)
    thread = threading.Thread(target=sign_in)
    thread.start()
    page = chromium.new_page()
    try:
        page.goto(handed.get(timeout=10))
        page.click("button[value=deny]")
        page.wait_for_url("http://127.0.0.1:*/callback?error=*", timeout=15000)
        assert "Not signed in" in page.locator("body").inner_text()
    finally:
        page.close()
        thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], SignInFailed)
    assert str(outcome[0]) == "browser sign-in refused: The user denied access"
    assert gotrue.state.requests[asked:] == ["authorize", "callback"]  # no code, so no token request


def test_with_no_browser_to_open_the_address_is_printed(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """webbrowser finds no browser (it returns False): the command prints the address and still waits
    for the redirect, here followed by hand (the GoTrue test server's own stand-in provider)."""
    from printmanager_account import cli as account_cli
    from printmanager_core.cli import main

    monkeypatch.setattr(account_cli, "OPEN_BROWSER", [lambda url: False])
    state = GoTrue()
    for gotrue in serve_gotrue(state):
        codes: list[object] = []

        def login() -> None:
            try:
                main(["--library", str(tmp_path / "lib"), "account", "login", "--google", "--url", gotrue.url,
                      "--anon-key", ANON_KEY])
            except SystemExit as exc:
                codes.append(exc.code)

        thread = threading.Thread(target=login)
        thread.start()
        err = ""
        deadline = time.monotonic() + 20
        while "/authorize?" not in err and time.monotonic() < deadline:
            err += capsys.readouterr().err
            time.sleep(0.05)
        assert "No browser could be opened; open this address to sign in:" in err
        address = err.split("open this address to sign in:", 1)[1].split()[0]
        assert address.startswith(f"{gotrue.url}/auth/v1/authorize?provider=google&redirect_to=http%3A%2F%2F127.0.0.1")
        landed = httpx.get(address, follow_redirects=True, timeout=10)  # the user opens it by hand
        assert "Signed in." in landed.text
        thread.join(20)
        assert codes in ([], [0]) and f"Signed in as {state.google_email}" in capsys.readouterr().out
