"""The account in ``privacy export`` and ``privacy delete``, against the contract-faithful GoTrue server.

The export holds the account's email and display name and nothing else; the delete asks the
provider to delete the account where it allows it (GoTrue: the admin API with the service-role
key, or the service's own deletion endpoint), says what it could not do, revokes the session and
removes the vault entry. Real HTTP on 127.0.0.1, real ES256 tokens, the real vault.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from cli_support import run
from gotrue_server import ANON_KEY, GoTrue, RunningGoTrue, serve
from vault_support import passphrase_vault
from printmanager_account import AccountError, Session, SupabaseProvider
from printmanager_account.privacy import SERVICE_ROLE_SECRET, SETTING_DELETE_URL, delete_account
from printmanager_account.session import SECRET_NAME
from printmanager_core import Library
from printmanager_core.privacy.delete import DeleteReport
from printmanager_vault import Vault, store

EMAIL = "ada@example.org"
PASSWORD = "analytical engine"
NAME = "Ada Lovelace"


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    with passphrase_vault(monkeypatch, "PRINTMANAGER_ACCOUNT_SERVICE_ROLE_KEY"):
        yield


@pytest.fixture
def gotrue() -> Iterator[RunningGoTrue]:
    state = GoTrue()
    state.add_user(EMAIL, PASSWORD, full_name=NAME)
    yield from serve(state)


def _signed_in(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lib: Path,
               gotrue: RunningGoTrue) -> str:
    """Sign in through the CLI; the user's id at the provider."""
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, _, err = run(capsys, lib, "account", "login", "--email", EMAIL, "--url", gotrue.url, "--anon-key", ANON_KEY)
    assert code == 0, err
    return next(u.id for u in gotrue.state.users.values() if u.email == EMAIL)


def _live_tokens(gotrue: RunningGoTrue) -> list[str]:
    return [t.token for t in gotrue.state.refresh_tokens.values() if not t.revoked]


def test_export_holds_the_email_and_display_name_only(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      gotrue: RunningGoTrue) -> None:
    lib = tmp_path / "lib"
    _signed_in(capsys, monkeypatch, lib, gotrue)
    refresh = json.loads(Vault(lib, prompt=None).get(SECRET_NAME))["refresh_token"]
    asked = len(gotrue.state.requests)
    code, out, err = run(capsys, lib, "privacy", "export", "-o", str(tmp_path / "export.zip"), "--json")
    assert code == 0, err
    assert len(gotrue.state.requests) == asked, "the export must not contact the provider"
    entry = next(f for f in json.loads(out)["files"] if f["name"] == "account.json")
    assert entry["plugin"] == "account" and "email and display name" in entry["description"]
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        assert json.loads(zf.read("account.json")) == {"email": EMAIL, "display_name": NAME}
        everything = b"".join(zf.read(name) for name in zf.namelist())
    assert refresh.encode() not in everything and ANON_KEY.encode() not in everything
    assert gotrue.state.users and next(iter(gotrue.state.users)).encode() not in everything  # no user id either

    # signed out: no account data is held, so none is exported
    assert run(capsys, lib, "account", "logout")[0] == 0
    code, out, err = run(capsys, lib, "privacy", "export", "-o", str(tmp_path / "after.zip"), "--json")
    assert code == 0, err
    assert "account.json" not in [f["name"] for f in json.loads(out)["files"]]


def test_delete_with_the_service_role_key_deletes_the_user_at_the_provider(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        gotrue: RunningGoTrue) -> None:
    lib = tmp_path / "lib"
    user_id = _signed_in(capsys, monkeypatch, lib, gotrue)
    Vault(lib, prompt=None).set(SERVICE_ROLE_SECRET, gotrue.state.service_role_key)
    code, out, err = run(capsys, lib, "privacy", "delete", "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert user_id not in gotrue.state.users  # deleted at the provider
    assert "admin_delete" in gotrue.state.requests and _live_tokens(gotrue) == []
    assert report["could_not"] == []
    removed = [(r["plugin"], r["what"]) for r in report["removed"]]
    assert ("account", "account at the identity provider") in removed
    assert ("account", "account session and data") in removed
    # the account goes before the vault that holds its refresh token
    assert removed.index(("account", "account session and data")) < [p for p, _ in removed].index("vault")
    assert not (lib / "vault.bin").exists()


def test_delete_without_a_deletion_credential_says_what_it_could_not_do(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        gotrue: RunningGoTrue) -> None:
    lib = tmp_path / "lib"
    user_id = _signed_in(capsys, monkeypatch, lib, gotrue)
    code, out, err = run(capsys, lib, "privacy", "delete", "--yes")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("could not"))
    assert line == (f"could not delete the account {EMAIL} at {gotrue.url}: Supabase Auth does not let a user "
                    "delete their own account, and no account-deletion endpoint (account.delete_url) or "
                    "service-role key is configured; delete it from the service's dashboard or account settings "
                    "[account]")
    assert "removed 1 account session and data" in out
    assert user_id in gotrue.state.users  # the provider keeps it: the line above says so
    assert "admin_delete" not in gotrue.state.requests
    assert "logout:local" in gotrue.state.requests and _live_tokens(gotrue) == []  # but the session is revoked


def test_the_delete_hook_uses_the_services_endpoint_and_forgets_only_the_session(
        tmp_path: Path, gotrue: RunningGoTrue) -> None:
    lib_dir = tmp_path / "lib"
    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    Session(Vault(lib_dir, prompt=None)).sign_in(provider, provider.sign_in_password(EMAIL, PASSWORD))
    Vault(lib_dir, prompt=None).set("other.secret", "kept")
    library = Library(lib_dir)
    library.settings.set(SETTING_DELETE_URL, "/functions/v1/delete-account")
    report = DeleteReport()
    delete_account(library, report)
    library.close()
    assert gotrue.state.requests.count("function:delete-account") == 1 and not gotrue.state.users
    assert report.as_json()["could_not"] == []
    vault = Vault(lib_dir, prompt=None)
    assert vault.names() == ["other.secret"]  # the refresh token and the account data are gone, nothing else
    assert Session(vault).account() is None


def test_an_unreachable_provider_is_reported_and_the_session_still_forgotten(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        gotrue: RunningGoTrue) -> None:
    lib = tmp_path / "lib"
    _signed_in(capsys, monkeypatch, lib, gotrue)
    vault = Vault(lib, prompt=None)
    saved = json.loads(vault.get(SECRET_NAME))
    vault.set(SECRET_NAME, json.dumps({**saved, "url": "http://127.0.0.1:9"}))  # nothing listens there
    monkeypatch.setenv("PRINTMANAGER_ACCOUNT_SERVICE_ROLE_KEY", gotrue.state.service_role_key)
    code, out, err = run(capsys, lib, "privacy", "delete", "--yes", "--json")
    assert code == 0, err
    could_not = json.loads(out)["could_not"]
    assert [c["what"] for c in could_not] == [f"delete the account {EMAIL} at http://127.0.0.1:9",
                                              "revoke the session at the provider"]
    assert could_not[0]["plugin"] == "account" and "cannot reach the identity provider" in could_not[0]["why"]
    assert "account session and data" in [r["what"] for r in json.loads(out)["removed"]]


def test_a_locked_vault_is_said_in_the_export_and_the_delete(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              gotrue: RunningGoTrue) -> None:
    """No passphrase and no terminal: the export says the account data was not exported, the delete
    says what it could not do and goes on (the vault plugin deletes the vault without its key)."""
    lib = tmp_path / "lib"
    _signed_in(capsys, monkeypatch, lib, gotrue)
    monkeypatch.delenv(store.ENV_PASSPHRASE)
    code, _, err = run(capsys, lib, "privacy", "export", "-o", str(tmp_path / "export.zip"))
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        account = json.loads(zf.read("account.json"))
    assert account["email"] is None and "account data not exported" in account["error"]
    code, out, err = run(capsys, lib, "privacy", "delete", "--yes", "--json")
    assert code == 0, err
    could_not = json.loads(out)["could_not"]
    assert [c["what"] for c in could_not] == ["tell whether an account is signed in, or delete it at the provider"]
    assert "the vault could not be opened" in could_not[0]["why"]
    assert not (lib / "vault.bin").exists()


def test_gotrue_admin_delete_needs_the_service_role_key(gotrue: RunningGoTrue) -> None:
    """The contract the default ("could not") rests on: a user cannot delete themself."""
    provider = SupabaseProvider(gotrue.url, ANON_KEY)
    tokens = provider.sign_in_password(EMAIL, PASSWORD)
    user_id = str(tokens.claims["sub"])
    for key in (ANON_KEY, tokens.access_token):
        with pytest.raises(AccountError, match="User not allowed"):
            provider.delete_user_as_admin(user_id, key)
    assert user_id in gotrue.state.users
    response = httpx.delete(f"{gotrue.url}/auth/v1/admin/users/{user_id}", headers={"apikey": ANON_KEY})
    assert response.status_code == 403
    provider.delete_user_as_admin(user_id, gotrue.state.service_role_key)
    assert user_id not in gotrue.state.users
    with pytest.raises(AccountError, match="User not found"):
        provider.delete_user_as_admin(user_id, gotrue.state.service_role_key)
    provider.close()


#: modules that talk to the identity provider (or bring its HTTP and token stack)
IDENTITY_MODULES = ("httpx", "joserfc", "printmanager_account.supabase", "printmanager_account.loopback",
                    "printmanager_account.service")

_WATCH = r"""
import json, os, socket, sys, threading
connects, listening = [], threading.Event()
real_connect, real_connect_ex, real_listen = socket.socket.connect, socket.socket.connect_ex, socket.socket.listen
def connect(self, address):
    connects.append(list(address)[:2] if isinstance(address, tuple) else [str(address), None])
    return real_connect(self, address)
def connect_ex(self, address):
    connects.append(list(address)[:2] if isinstance(address, tuple) else [str(address), None])
    return real_connect_ex(self, address)
def listen(self, *args):
    result = real_listen(self, *args)
    listening.set()
    return result
socket.socket.connect, socket.socket.connect_ex, socket.socket.listen = connect, connect_ex, listen
from printmanager_core.cli import main
out, library, commands, watched = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
def run(args):
    try:
        main(["--library", library, *args])
    except SystemExit as exc:
        return exc.code
    return 0
results = []
def step(args, code):
    results.append({"args": args, "code": code, "connects": connects[start:],
                    "modules": sorted(m for m in watched if m in sys.modules)})
for args in commands:
    start = len(connects)
    if args == ["serve"]:  # start-up only: it runs on in its thread while the next commands run
        threading.Thread(target=run, args=(["serve", "--port", "0"],), daemon=True).start()
        step(args, 0 if listening.wait(60) else "did not start")
    else:
        step(args, run(args))
with open(out, "w") as f:
    json.dump(results, f)
sys.stdout.flush()
os._exit(0)
"""


def test_without_sign_in_no_identity_entitlement_or_credential_traffic(
        tmp_path: Path, corpus: Path, gotrue: RunningGoTrue, s3_env: Any, passphrase_env: str) -> None:
    """An account service configured but never signed in to: `account status`, `ls`, `privacy export`,
    `sync now` with the user's own static S3 keys and `serve` start-up (one real process, watching
    every connect) never contact the identity provider and never import its network modules. The
    S3 connects of `sync now` are seen, so the watch sees connections."""
    import subprocess
    import sys

    import shutil

    from printmanager_sync import enable
    from sync_support import scanned_library

    prints = tmp_path / "Prints"
    prints.mkdir()
    for name in ("Benchy multi-part/Cargo box.stl", "Benchy multi-part/Window.stl", "sliced/mini_cube_b.bgcode"):
        shutil.copyfile(corpus / name, prints / Path(name).name)
    lib_dir = tmp_path / "lib"
    lib = scanned_library(lib_dir, [prints])
    lib.settings.set("account.url", gotrue.url)
    lib.settings.set("account.anon_key", ANON_KEY)
    enable(lib, {"backend": "s3", "endpoint": s3_env.endpoint, "bucket": s3_env.new_bucket()}, consent_given=True)
    lib.close()
    # sync (the user's own S3, static keys) goes last: its S3 client is httpx, which nothing before may import
    commands = [["account", "status"], ["account", "status", "--json"], ["ls"],
                ["privacy", "export", "-o", str(tmp_path / "export.zip")], ["serve"], ["sync", "now"]]
    env = {**os.environ, "PRINTMANAGER_ACCOUNT_URL": gotrue.url, "PRINTMANAGER_ACCOUNT_ANON_KEY": ANON_KEY}
    out = tmp_path / "watch.json"
    done = subprocess.run([sys.executable, "-c", _WATCH, str(out), str(lib_dir), json.dumps(commands),
                           json.dumps(IDENTITY_MODULES)], env=env, capture_output=True, text=True, timeout=120)
    assert out.exists(), done.stderr
    results = json.loads(out.read_text())
    assert [r["code"] for r in results] == [0] * len(commands), (results, done.stderr)
    gotrue_port = int(gotrue.url.rsplit(":", 1)[1])
    assert [r for r in results if any(c[1] == gotrue_port for c in r["connects"])] == []
    assert gotrue.state.requests == []  # the provider's own log: nothing came
    assert [r["connects"] for r in results[:-1]] == [[]] * (len(commands) - 1)  # not one connection
    assert any(c[1] == s3_env.port for c in results[-1]["connects"])  # sync's S3 ones: the watch sees them
    assert [r["modules"] for r in results[:-1]] == [[]] * (len(commands) - 1)
    assert results[-1]["modules"] == ["httpx"]  # sync's S3 client; no identity or token module
