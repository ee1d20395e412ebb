"""``printmanager account``: Supabase Auth sign-in against a contract-faithful GoTrue server.

The server (tests/gotrue_server.py) is real HTTP on 127.0.0.1 with real ES256 tokens;
the vault is the real vault (passphrase store, cheap scrypt).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from cli_support import run
from gotrue_server import ANON_KEY, GoTrue, RunningGoTrue, serve
from vault_support import passphrase_vault
from printmanager_account import (
    Session,
    SignInFailed,
    SupabaseProvider,
    TokenInvalid,
    identity_providers,
)
from printmanager_account.session import SECRET_NAME
from printmanager_vault import Vault

EMAIL = "ada@example.org"
PASSWORD = "analytical engine"


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    with passphrase_vault(monkeypatch):
        yield


@pytest.fixture
def gotrue() -> Iterator[RunningGoTrue]:
    state = GoTrue()
    state.add_user(EMAIL, PASSWORD, full_name="Ada Lovelace")
    yield from serve(state)


def _vault(library_dir: Path) -> Vault:
    return Vault(library_dir, prompt=None)


def _login(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lib: Path,
           gotrue: RunningGoTrue, password: str = PASSWORD) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return run(capsys, lib, "account", "login", "--email", EMAIL, "--url", gotrue.url, "--anon-key", ANON_KEY)


def test_register_identity_providers_gives_the_builtin_supabase() -> None:
    assert identity_providers()["supabase"] is SupabaseProvider


def test_login_status_logout_through_the_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path, gotrue: RunningGoTrue) -> None:
    lib = tmp_path / "lib"
    code, out, err = _login(capsys, monkeypatch, lib, gotrue)
    assert code == 0, err
    assert f"Signed in as {EMAIL}" in out
    saved = json.loads(_vault(lib).get(SECRET_NAME))
    live = [t for t in gotrue.state.refresh_tokens.values() if not t.revoked]
    assert [t.token for t in live] == [saved["refresh_token"]]
    # the refresh token is not on disk in the clear
    assert saved["refresh_token"].encode() not in (lib / "vault.bin").read_bytes()

    code, out, _ = run(capsys, lib, "account", "status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["signed_in"] is True
    assert status["account"]["email"] == EMAIL
    assert status["account"]["display_name"] == "Ada Lovelace"
    assert "refresh_token" not in out and "anon_key" not in out

    before = len(gotrue.state.requests)
    code, out, _ = run(capsys, lib, "account", "status")
    assert code == 0 and "Ada Lovelace" in out
    assert len(gotrue.state.requests) == before, "status must not contact the provider"

    code, out, err = run(capsys, lib, "account", "logout")
    assert code == 0, err
    assert out.strip() == "Signed out"
    assert "logout:local" in gotrue.state.requests
    assert all(t.revoked for t in gotrue.state.refresh_tokens.values())
    assert SECRET_NAME not in _vault(lib).names()
    code, out, _ = run(capsys, lib, "account", "status")
    assert out.strip() == "Not signed in"


def test_wrong_password_is_a_one_line_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path, gotrue: RunningGoTrue) -> None:
    code, out, err = _login(capsys, monkeypatch, tmp_path / "lib", gotrue, password="wrong")
    assert code == 1
    assert err.strip() == "Error: sign-in refused by the provider: Invalid login credentials"


def test_refresh_rotates_and_saves_the_new_token(tmp_path: Path, gotrue: RunningGoTrue) -> None:
    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    session = Session(_vault(tmp_path))
    session.sign_in(provider, provider.sign_in_password(EMAIL, PASSWORD))
    first = json.loads(_vault(tmp_path).get(SECRET_NAME))["refresh_token"]

    fresh = Session(_vault(tmp_path))  # a new process: no access token in memory
    tokens = fresh.access_token()
    second = json.loads(_vault(tmp_path).get(SECRET_NAME))["refresh_token"]
    assert second != first and second == tokens.refresh_token
    assert gotrue.state.refresh_tokens[first].revoked
    assert provider.user(tokens.access_token)["email"] == EMAIL


def test_reusing_a_rotated_refresh_token_revokes_the_family(tmp_path: Path, gotrue: RunningGoTrue) -> None:
    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    signed_in = provider.sign_in_password(EMAIL, PASSWORD)
    rotated = provider.refresh(signed_in.refresh_token)
    with pytest.raises(SignInFailed, match="Already Used"):
        provider.refresh(signed_in.refresh_token)  # a thief replays the old one
    with pytest.raises(SignInFailed):
        provider.refresh(rotated.refresh_token)  # ... and the whole family is gone


def test_tokens_are_verified_against_the_jwks(gotrue: RunningGoTrue) -> None:
    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    tokens = provider.sign_in_password(EMAIL, PASSWORD)
    assert tokens.claims["email"] == EMAIL and tokens.claims["aud"] == "authenticated"
    forger = ECKey.generate_key("P-256", parameters={"kid": "test-key-1"})
    now = int(time.time())
    forged = jwt.encode({"alg": "ES256", "kid": "test-key-1"},
                        {"sub": "x", "exp": now + 60, "email": "mallory@example.org"}, forger)
    with pytest.raises(TokenInvalid):
        provider.verify(forged)
    expired = jwt.encode({"alg": "ES256", "kid": "test-key-1"}, {"sub": "x", "exp": now - 60}, gotrue.state.key)
    with pytest.raises(TokenInvalid):
        provider.verify(expired)


def test_a_legacy_shared_secret_project_is_verified_by_the_server() -> None:
    """HS256 tokens (no public key in the JWKS) are checked with GET /user; forgeries fail."""
    state = GoTrue(hs256_secret="super-secret-jwt-token-with-at-least-32-characters")
    state.add_user(EMAIL, PASSWORD)
    for running in serve(state):
        provider = SupabaseProvider(running.url, ANON_KEY)
        tokens = provider.sign_in_password(EMAIL, PASSWORD)
        assert tokens.claims["email"] == EMAIL
        asked = state.requests.count("user")
        assert provider.verify(tokens.access_token)["sub"] == tokens.claims["sub"]
        assert state.requests.count("user") == asked + 1  # the server checked it
        now = int(time.time())
        forged = jwt.encode({"alg": "HS256"}, {**tokens.claims, "exp": now + 60},
                            OctKey.import_key("a-different-secret-of-at-least-32-characters"))
        with pytest.raises(TokenInvalid):
            provider.verify(forged)
        expired = jwt.encode({"alg": "HS256"}, {**tokens.claims, "exp": now - 60},
                             OctKey.import_key(state.hs256_secret))
        with pytest.raises(TokenInvalid):
            provider.verify(expired)
        provider.close()


def test_logout_with_the_provider_unreachable_still_forgets_locally(tmp_path: Path, gotrue: RunningGoTrue) -> None:
    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    session = Session(_vault(tmp_path))
    session.sign_in(provider, provider.sign_in_password(EMAIL, PASSWORD))
    saved = json.loads(_vault(tmp_path).get(SECRET_NAME))
    saved["url"] = "http://127.0.0.1:9"  # nothing listens there
    _vault(tmp_path).set(SECRET_NAME, json.dumps(saved))
    assert Session(_vault(tmp_path)).sign_out() is False
    assert SECRET_NAME not in _vault(tmp_path).names()


def test_no_network_until_the_user_signs_in(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path, corpus: Path) -> None:
    from printmanager_core import Library
    from sync_support import make_prints, no_network

    attempts = no_network(monkeypatch)
    lib_dir = tmp_path / "lib"
    lib = Library(lib_dir)
    lib.settings.set("account.url", "https://example.supabase.co")
    lib.settings.set("account.anon_key", "public-anon-key")
    assert lib.scan([make_prints(tmp_path / "Prints", corpus)], workers=1).added >= 12
    lib.close()
    for args in (("account", "status"), ("account", "status", "--json"), ("account", "logout")):
        code, out, err = run(capsys, lib_dir, *args)
        assert code == 0, err
    assert json.loads(run(capsys, lib_dir, "account", "status", "--json")[1])["signed_in"] is False
    assert attempts == []


def _http_browser(seen: list[str]) -> "Callable[[str], None]":
    """A browser stand-in for the redirect chain only: a real HTTP client that follows
    every redirect (GoTrue -> provider -> GoTrue callback -> our loopback listener).
    The real browser leg is in tests/test_account_browser.py."""
    import httpx

    def open_browser(url: str) -> None:
        seen.append(url)
        response = httpx.get(url, follow_redirects=True, timeout=10)
        seen.extend(str(r.url) for r in response.history)
        seen.append(str(response.url))
        assert response.status_code == 200 and "Signed in" in response.text

    return open_browser


def test_google_sign_in_with_pkce_through_a_loopback_redirect(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             gotrue: RunningGoTrue) -> None:
    from urllib.parse import parse_qs, urlparse

    from printmanager_account import cli as account_cli

    seen: list[str] = []
    monkeypatch.setattr(account_cli, "OPEN_BROWSER", [_http_browser(seen)])
    lib = tmp_path / "lib"
    code, out, err = run(capsys, lib, "account", "login", "--google", "--url", gotrue.url, "--anon-key", ANON_KEY)
    assert code == 0, err
    assert "Signed in as grace@example.org" in out
    authorize = parse_qs(urlparse(seen[0]).query)
    assert authorize["provider"] == ["google"] and authorize["code_challenge_method"] == ["s256"]
    assert len(authorize["code_challenge"][0]) == 43  # base64url of a SHA-256, no padding
    loopback = urlparse(authorize["redirect_to"][0])
    assert loopback.hostname == "127.0.0.1" and loopback.port not in (None, 80) and loopback.path == "/callback"
    assert urlparse(seen[-1]).netloc == loopback.netloc and "code" in parse_qs(urlparse(seen[-1]).query)
    assert "token:pkce" in gotrue.state.requests
    saved = json.loads(_vault(lib).get(SECRET_NAME))
    assert saved["email"] == "grace@example.org" and saved["refresh_token"] in gotrue.state.refresh_tokens


def test_pkce_exchange_refuses_a_wrong_verifier(gotrue: RunningGoTrue) -> None:
    import httpx

    from printmanager_account.loopback import pkce_pair

    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    _, challenge = pkce_pair()
    response = httpx.get(provider.authorize_url("google", "http://127.0.0.1:1/callback", challenge))
    assert response.status_code == 302
    hop = httpx.get(response.headers["location"])  # the provider's consent page says yes
    back = httpx.get(hop.headers["location"])  # GoTrue's callback sends us to redirect_to?code=
    code = back.headers["location"].split("code=", 1)[1]
    other_verifier, _ = pkce_pair()
    with pytest.raises(SignInFailed, match="code verifier"):
        provider.exchange_code(code, other_verifier)
