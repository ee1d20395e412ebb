"""The subscription (entitlement): signed claims from the service, the vault cache, offline grace.

Real HTTP on 127.0.0.1: the contract-faithful GoTrue server (tests/gotrue_server.py) with the
service's ``/functions/v1/entitlement`` beside it (tests/account_cloud_support.py), real ES256
tokens signed with the project's key and verified against its published JWKS, the real vault.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Iterator

import attrs
import pytest
from joserfc.jwk import ECKey

from account_cloud_support import DAY, Billing, RunningService, ShiftedClock, iso, service_app, start_service
from cli_support import run
from gotrue_server import ANON_KEY, GoTrue, User
from vault_support import passphrase_vault
from printmanager_account import EntitlementRequired, TokenInvalid, require_entitlement
from printmanager_account import entitlement as entitlement_module
from printmanager_account.entitlement import SECRET_NAME, check_entitlement
from printmanager_vault import Vault

EMAIL = "ada@example.org"
PASSWORD = "analytical engine"


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    with passphrase_vault(monkeypatch):
        yield


@pytest.fixture
def clock() -> Iterator[ShiftedClock]:
    clock = ShiftedClock()
    entitlement_module.CLOCK[0] = clock
    yield clock
    entitlement_module.CLOCK[0] = time.time


@attrs.define
class Project:
    gotrue: GoTrue
    billing: Billing
    running: RunningService
    user: User

    @property
    def url(self) -> str:
        return self.running.url

    def requests(self) -> int:
        return len(self.gotrue.requests) + len(self.billing.requests)


@pytest.fixture
def project(clock: ShiftedClock) -> Iterator[Project]:
    gotrue = GoTrue()
    user = gotrue.add_user(EMAIL, PASSWORD, full_name="Ada Lovelace")
    billing = Billing(gotrue.key, clock)
    running = start_service(service_app(gotrue, billing))
    yield Project(gotrue, billing, running, user)
    running.stop()


def _login(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lib: Path,
           project: Project) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return run(capsys, lib, "account", "login", "--email", EMAIL, "--url", project.url, "--anon-key", ANON_KEY)


def _status(capsys: pytest.CaptureFixture[str], lib: Path, *args: str) -> dict:
    code, out, err = run(capsys, lib, "account", "status", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def _library(lib: Path):  # type: ignore[no-untyped-def]
    from printmanager_core import Library

    return Library(lib)


def test_register_entitlement_sources_a_signed_subscription_shows_plan_and_renewal(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, project: Project) -> None:
    sub = project.billing.subscribe(project.user.id, "pro", features=("hosted_storage",), period_days=31)
    lib = tmp_path / "lib"
    code, out, err = _login(capsys, monkeypatch, lib, project)
    assert code == 0 and err == "", err
    assert project.billing.requests == ["entitlement"]  # checked once, right after sign-in

    before = project.requests()
    status = _status(capsys, lib)
    subscription = status["subscription"]
    assert subscription["plan"] == "pro" and subscription["status"] == "active" and subscription["active"]
    assert subscription["features"] == ["hosted_storage"]
    assert subscription["renews_at"] == iso(int(sub.current_period_end or 0))
    assert subscription["source"] == "service" and subscription["offline"] is False
    code, out, _ = run(capsys, lib, "account", "status")
    assert code == 0
    assert f"Plan: pro (active), renews {iso(int(sub.current_period_end or 0))[:10]}" in out.splitlines()
    assert project.requests() == before, "status reads the cached subscription: no network"

    # the cached token sits in the vault, encrypted; a fresh check asks the service again
    saved = json.loads(Vault(lib, prompt=None).get(SECRET_NAME))
    assert saved["token"].encode() not in (lib / "vault.bin").read_bytes()
    assert _status(capsys, lib, "--check")["subscription"]["plan"] == "pro"
    assert project.billing.requests == ["entitlement", "entitlement"]
    with _library(lib) as library:
        assert require_entitlement(library, "hosted_storage").plan == "pro"
        with pytest.raises(EntitlementRequired, match="^printing_farm is not part of the pro plan$"):
            require_entitlement(library, "printing_farm")


def _tamper(token: str) -> str:
    """Change the plan in the payload and keep the signature (what a party in the middle would do)."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["plan"], claims["features"] = "enterprise", ["hosted_storage", "printing_farm"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


@pytest.mark.parametrize("how", ["expired", "tampered", "another key"])
def test_a_bad_entitlement_token_is_refused_with_one_line(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          project: Project, how: str) -> None:
    project.billing.subscribe(project.user.id, "pro")
    if how == "expired":
        project.billing.issued_offset = -2 * project.billing.ttl  # an old token replayed
    elif how == "tampered":
        project.billing.mangle = _tamper
    else:  # a key the project's JWKS does not publish, under the same key id
        project.billing.signing_key = ECKey.generate_key("P-256", parameters={"kid": project.gotrue.key.kid})
    lib = tmp_path / "lib"
    code, out, err = _login(capsys, monkeypatch, lib, project)
    assert code == 0 and f"Signed in as {EMAIL}" in out
    assert err.startswith("warning: subscription not checked: the entitlement did not verify: ")
    assert len(err.strip().splitlines()) == 1

    code, out, err = run(capsys, lib, "account", "status", "--check")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the entitlement did not verify: "), err
    if how == "expired":
        assert "expired at" in lines[0]
    assert _status(capsys, lib)["subscription"] is None  # nothing cached
    assert SECRET_NAME not in Vault(lib, prompt=None).names()
    with _library(lib) as library, pytest.raises(TokenInvalid):
        require_entitlement(library, "hosted_storage")


def test_a_changed_cache_counts_for_nothing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path, project: Project) -> None:
    project.billing.subscribe(project.user.id, "pro")
    lib = tmp_path / "lib"
    assert _login(capsys, monkeypatch, lib, project)[0] == 0
    vault = Vault(lib, prompt=None)
    saved = json.loads(vault.get(SECRET_NAME))
    vault.set(SECRET_NAME, json.dumps({**saved, "token": _tamper(saved["token"])}))
    assert _status(capsys, lib)["subscription"] is None
    assert SECRET_NAME not in Vault(lib, prompt=None).names()


def test_offline_within_the_grace_period_the_cached_subscription_counts_then_lapses(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, project: Project,
        clock: ShiftedClock) -> None:
    project.billing.subscribe(project.user.id, "pro", period_days=30)
    lib = tmp_path / "lib"
    assert _login(capsys, monkeypatch, lib, project)[0] == 0
    project.running.stop()  # from here on the device is offline
    clock.advance(2 * DAY)  # the token (1 h) has expired; the grace period (7 days) has not

    subscription = _status(capsys, lib)["subscription"]
    assert subscription["offline"] is True and subscription["lapsed"] is False and subscription["active"]
    code, out, _ = run(capsys, lib, "account", "status")
    assert "counts offline until" in out
    code, out, err = run(capsys, lib, "account", "status", "--check")
    assert code == 0 and err.startswith("warning: showing the cached subscription: cannot reach")
    with _library(lib) as library:  # a new process: no access token in memory, the refresh fails
        used = require_entitlement(library, "hosted_storage")
        assert used.plan == "pro" and used.offline
        library.settings.set("account.entitlement_grace_days", 1)  # a shorter grace: already past
        with pytest.raises(EntitlementRequired, match="the grace period ended"):
            require_entitlement(library, "hosted_storage")
        library.settings.set("account.entitlement_grace_days", 7)

    clock.advance(6 * DAY)  # 8 days since the last check
    subscription = _status(capsys, lib)["subscription"]
    assert subscription["lapsed"] is True and subscription["active"] is False
    code, out, _ = run(capsys, lib, "account", "status")
    assert "the offline grace period ended" in out
    with _library(lib) as library:
        with pytest.raises(EntitlementRequired) as refused:
            require_entitlement(library, "hosted_storage")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("cannot check the subscription (last checked ")
    assert "cannot reach the identity provider" in message


def test_check_entitlement_without_a_subscription_is_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], project: Project) -> None:
    lib = tmp_path / "lib"
    assert _login(capsys, monkeypatch, lib, project)[0] == 0
    with _library(lib) as library:
        free = check_entitlement(library)
        assert (free.plan, free.status, free.active) == ("free", "none", False)
        with pytest.raises(EntitlementRequired, match=r"^hosted_storage needs a subscription \(plan free, status none\)$"):
            require_entitlement(library, "hosted_storage")
    code, out, _ = run(capsys, lib, "account", "status")
    assert "Plan: free (none)" in out


def test_the_access_token_source_reads_app_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], clock: ShiftedClock) -> None:
    """A project without the entitlement function (404) that writes the subscription into
    ``app_metadata.entitlement`` (a Stripe webhook) — the claims ride in the signed access token."""
    gotrue = GoTrue()
    period_end = int(clock() + 10 * DAY)
    user = gotrue.add_user(EMAIL, PASSWORD, entitlement={"plan": "plus", "status": "trialing",
                                                         "features": ["hosted_storage"],
                                                         "current_period_end": period_end})
    from gotrue_server import build_app

    running = start_service(build_app(gotrue))  # GoTrue only: /functions/v1/entitlement is a 404
    try:
        lib = tmp_path / "lib"
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        code, _, err = run(capsys, lib, "account", "login", "--email", EMAIL, "--url", running.url,
                           "--anon-key", ANON_KEY)
        assert code == 0 and err == "", err
        subscription = _status(capsys, lib, "--check")["subscription"]
        assert subscription["plan"] == "plus" and subscription["status"] == "trialing"
        assert subscription["source"] == "access-token" and subscription["renews_at"] == iso(period_end)
        assert SECRET_NAME not in Vault(lib, prompt=None).names()  # an access token is never cached
        assert user.id
    finally:
        running.stop()
