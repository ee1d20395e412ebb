"""Short-lived, user-scoped storage credentials from the service, end to end against moto's S3.

The service (tests/account_cloud_support.py) signs the user in (the contract-faithful GoTrue
server), checks the subscription, and hands out credentials from STS ``AssumeRole`` on the
moto server for a role that may touch only ``users/<sub>/``. moto checks every SigV4 signature,
the session token (``x-amz-security-token``) and the role's policy; the S3 endpoint the service
names is moto behind an expiry gate that answers ``400 ExpiredToken`` once a credential is past
the expiry the service gave it (moto itself does not enforce expiry).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import attrs
import pytest

from account_cloud_support import (
    Billing,
    GatedMoto,
    HostedStorage,
    RunningService,
    ShiftedClock,
    hosted_storage,
    service_app,
    start_service,
)
from cli_support import run
from gotrue_server import ANON_KEY, GoTrue, User
from printmanager_account import entitlement as entitlement_module
from printmanager_sync import storage_credentials
from printmanager_sync.errors import SyncError
from printmanager_sync.s3client import Credentials, S3Client, S3Error
from sync_support import MotoS3, no_network
from vault_support import passphrase_vault

EMAIL = "ada@example.org"
PASSWORD = "analytical engine"
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    with passphrase_vault(monkeypatch):
        yield


@pytest.fixture
def clock() -> Iterator[ShiftedClock]:
    """One clock for the service, the expiry gate, the entitlement cache and the refresh logic."""
    clock = ShiftedClock()
    entitlement_module.CLOCK[0] = storage_credentials.CLOCK[0] = clock
    yield clock
    entitlement_module.CLOCK[0] = storage_credentials.CLOCK[0] = time.time


@attrs.define
class Hosted:
    gotrue: GoTrue
    billing: Billing
    storage: HostedStorage
    gated: GatedMoto
    running: RunningService
    user: User

    def objects(self) -> list[str]:
        """Every object name in the hosted bucket (read with the service's own keys)."""
        with S3Client(self.storage.moto_endpoint, self.storage.bucket,
                      Credentials(self.storage.service_key_id, self.storage.service_secret)) as c:
            return sorted(key for key, _size, _etag in c.list_objects(""))


@pytest.fixture(scope="module")
def infrastructure(moto_s3: MotoS3) -> Iterator[tuple[GatedMoto, HostedStorage]]:
    """The service's IAM user, its botocore clients and the gated moto endpoint (made once)."""
    yield from hosted_storage(moto_s3.endpoint, ShiftedClock())


@pytest.fixture
def hosted(infrastructure: tuple[GatedMoto, HostedStorage], clock: ShiftedClock) -> Iterator[Hosted]:
    """A fresh project: a new bucket, user, subscription and service; the gate's log emptied."""
    gated, storage = infrastructure
    storage.bucket = storage.new_bucket()
    storage.clock = clock
    storage.issued.clear()
    gated.gate.seen.clear()
    gated.gate.after_part = None
    gotrue = GoTrue()
    user = gotrue.add_user(EMAIL, PASSWORD)
    billing = Billing(gotrue.key, clock)
    billing.subscribe(user.id, "pro", features=("hosted_storage",))
    running = start_service(service_app(gotrue, billing, storage))
    try:
        yield Hosted(gotrue, billing, storage, gated, running, user)
    finally:
        running.stop()


def _login(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lib: Path, hosted: Hosted) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, _, err = run(capsys, lib, "account", "login", "--email", EMAIL, "--url", hosted.running.url,
                       "--anon-key", ANON_KEY)
    assert code == 0 and err == "", err


def test_register_storage_credential_sources_sync_to_hosted_storage_with_session_tokens(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpus: Path,
        hosted: Hosted, passphrase_env: str) -> None:
    lib = tmp_path / "lib"
    prints = tmp_path / "Prints"
    prints.mkdir()
    for name in ("Spider_binary.stl", "box.obj"):  # real files, few and small: the point is the transport
        shutil.copyfile(corpus / "assimp" / name, prints / name)
    code, _, err = run(capsys, lib, "scan", str(prints), "--no-thumbnails")
    assert code == 0, err
    _login(capsys, monkeypatch, lib, hosted)

    code, out, err = run(capsys, lib, "sync", "enable", "--backend", "s3", "--credentials", "account",
                         "--i-consent", "--json")
    assert code == 0, err
    enabled = json.loads(out)
    assert enabled["user"] == hosted.user.id  # the prefix the credentials are scoped to
    code, out, err = run(capsys, lib, "sync", "now", "--json")
    assert code == 0, err
    assert json.loads(out)["pushed"]

    # a new device: sign in there, restore from the hosted storage (the user comes from the prefix)
    device = tmp_path / "device"
    _login(capsys, monkeypatch, device, hosted)
    code, out, err = run(capsys, device, "sync", "restore", "--backend", "s3", "--credentials", "account",
                         "--to", str(tmp_path / "restored"), "--json")
    assert code == 0, err
    restored = tmp_path / "restored" / "Prints"
    assert {p.name: p.read_bytes() for p in restored.iterdir()} == {p.name: p.read_bytes() for p in prints.iterdir()}

    names = hosted.objects()
    assert names and all(name.startswith(f"users/{hosted.user.id}/") for name in names)
    seen = hosted.gated.gate.seen
    assert seen and all(s.session_token and (s.access_key_id or "").startswith("ASIA") for s in seen)
    assert {s.access_key_id for s in seen} <= set(hosted.storage.issued)  # only keys the service issued
    assert not [s for s in seen if s.status in (400, 401, 403)]  # never refused (404: not there yet)


def test_the_scoped_credentials_need_their_token_and_stay_in_their_prefix(hosted: Hosted) -> None:
    issued = hosted.storage.issue(hosted.user.id)
    endpoint, bucket = issued["Endpoint"], issued["Bucket"]
    scoped = Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
    with S3Client(endpoint, bucket, scoped) as c:
        c.put_object(f"users/{hosted.user.id}/probe", b"mine")
        with pytest.raises(S3Error, match="AccessDenied"):
            c.put_object("users/someone-else/probe", b"theirs")
    without_token = Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], None)
    with S3Client(endpoint, bucket, without_token) as c, pytest.raises(S3Error, match="InvalidAccessKeyId"):
        c.put_object(f"users/{hosted.user.id}/probe", b"mine")
    with S3Client(endpoint, bucket, Credentials(scoped.access_key_id, scoped.secret_access_key, "forged")) as c:
        with pytest.raises(S3Error, match="InvalidToken"):
            c.put_object(f"users/{hosted.user.id}/probe", b"mine")


@attrs.define
class MemorySource:
    """An UploadSource of bytes in memory (what ObjectEncryptor gives the backend)."""

    data: bytes
    salt: bytes = b"\0" * 16

    @property
    def size(self) -> int:
        return len(self.data)

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        yield self.data[start:end]

    def read_range(self, start: int, end: int) -> bytes:
        return self.data[start:end]

    def verify_source(self) -> None:
        return None


def _backend(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             hosted: Hosted) -> Any:
    from printmanager_core import Library
    from printmanager_sync.backends.s3 import s3_factory

    lib = tmp_path / "lib"
    _login(capsys, monkeypatch, lib, hosted)
    library = Library(lib)
    config = {"backend": "s3", "credentials": "account", "multipart_threshold": 6 * MiB, "part_size": 5 * MiB,
              "retries": 1}
    return library, s3_factory(config, library)


def test_credentials_expire_and_are_refreshed_in_the_middle_of_a_multipart_upload(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hosted: Hosted,
        clock: ShiftedClock) -> None:
    library, backend = _backend(tmp_path, capsys, monkeypatch, hosted)
    gate = hosted.gated.gate
    gate.after_part = lambda: clock.advance(400)  # each 5 MiB part takes "400 s"; credentials last 900 s
    data = os.urandom(11 * MiB)  # three parts
    name = f"users/{hosted.user.id}/data/big"
    try:
        backend.put(name, MemorySource(data))
        parts = gate.parts()
        assert len(parts) == 3 and all(p.status == 200 and p.session_token for p in parts)
        first, second, third = (p.access_key_id for p in parts)
        assert first == second != third, "the third part is signed with a refreshed set"
        assert backend.client.credentials.fetches == 2
        with S3Client(hosted.storage.moto_endpoint, hosted.storage.bucket,
                      Credentials(hosted.storage.service_key_id, hosted.storage.service_secret)) as c:
            assert c.get_object(name)[0] == data
        # the first set is past its expiry now: the server refuses it as S3 does
        assert hosted.storage.issued[first].expires_at < clock()
        stale = [s for s in gate.seen if s.access_key_id == first]
        assert all(s.status < 400 for s in stale)  # it was never used after it expired
    finally:
        library.close()


def test_when_the_credentials_cannot_be_renewed_the_upload_stops_with_one_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hosted: Hosted,
        clock: ShiftedClock) -> None:
    library, backend = _backend(tmp_path, capsys, monkeypatch, hosted)

    def after_part() -> None:
        clock.advance(800)  # 100 s left: a new set is needed before the next part ...
        hosted.storage.unavailable = True  # ... and the service cannot give one

    hosted.gated.gate.after_part = after_part
    name = f"users/{hosted.user.id}/data/big"
    try:
        with pytest.raises(SyncError) as stopped:
            backend.put(name, MemorySource(os.urandom(11 * MiB)))
        assert str(stopped.value) == ("no storage credentials from the printmanager service: the printmanager "
                                      "service failed to give storage credentials: HTTP 503")
        assert len(hosted.gated.gate.parts()) == 1  # nothing was sent with credentials about to expire
        hosted.storage.unavailable = False
        hosted.gated.gate.after_part = None
        backend.put(name, MemorySource(b"x" * (7 * MiB)))  # the service is back: a new set, and on
        assert backend.client.credentials.fetches == 2
    finally:
        library.close()


def test_a_token_the_server_counts_as_expired_is_refreshed_and_the_request_sent_again(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hosted: Hosted) -> None:
    library, backend = _backend(tmp_path, capsys, monkeypatch, hosted)
    client = backend.client
    name = f"users/{hosted.user.id}/data/small"
    try:
        client.put_object(name, b"one")
        in_use = client.credentials.access_key_id
        hosted.storage.expire_now(in_use)  # the server's clock runs ahead of ours (or it revoked the set)
        client.put_object(name, b"two")
        assert client.head_object(name) is not None
        statuses = [(s.access_key_id == in_use, s.status) for s in hosted.gated.gate.seen if s.method == "PUT"]
        assert statuses == [(True, 200), (True, 400), (False, 200)]  # ExpiredToken, new set, same PUT again
        hosted.storage.expire_now(client.credentials.access_key_id)
        assert client.head_object(name) is not None  # a HEAD's bare 400 counts as expired too
        assert client.credentials.fetches == 3

        # the service now names another bucket than the one consent was given for: refused
        from printmanager_sync.backends.s3 import s3_factory

        with pytest.raises(SyncError, match=r"now for the bucket .* not elsewhere .*run `printmanager sync enable` again"):
            s3_factory({"backend": "s3", "credentials": "account", "bucket": "elsewhere"}, library)
    finally:
        library.close()


def test_hosted_storage_is_gated_but_the_catalogue_and_own_bucket_sync_never_are(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpus: Path,
        hosted: Hosted, clock: ShiftedClock, s3_env: MotoS3, passphrase_env: str) -> None:
    lib = tmp_path / "lib"
    _login(capsys, monkeypatch, lib, hosted)
    hosted.billing.subscribe(hosted.user.id, "pro", status="canceled")
    run(capsys, lib, "account", "status", "--check")
    code, out, err = run(capsys, lib, "sync", "enable", "--backend", "s3", "--credentials", "account", "--i-consent")
    assert code == 1 and out == ""
    assert err.strip() == "Error: hosted_storage needs a subscription (plan pro, status canceled)"
    assert hosted.storage.issued == {}

    # offline, and long past the grace period: hosted storage refuses ...
    hosted.running.stop()
    clock.advance(30 * 86400)
    code, out, err = run(capsys, lib, "sync", "enable", "--backend", "s3", "--credentials", "account", "--i-consent")
    assert code == 1 and err.startswith("Error: cannot check the subscription (last checked ") and err.count("\n") == 1
    # ... while the catalogue and sync to the user's own bucket (static keys) never ask
    asked = len(hosted.gotrue.requests) + len(hosted.billing.requests)
    prints = tmp_path / "Prints"
    prints.mkdir()
    shutil.copyfile(corpus / "assimp" / "box.obj", prints / "box.obj")
    code, out, err = run(capsys, lib, "scan", str(prints), "--no-thumbnails")
    assert code == 0, err
    code, out, err = run(capsys, lib, "ls")
    assert code == 0 and "box.obj" in out, err
    bucket = s3_env.new_bucket()
    code, out, err = run(capsys, lib, "sync", "enable", "--backend", "s3", "--endpoint", s3_env.endpoint,
                         "--bucket", bucket, "--i-consent")
    assert code == 0, err
    code, out, err = run(capsys, lib, "sync", "now", "--json")
    assert code == 0 and json.loads(out)["pushed"], err
    assert len(hosted.gotrue.requests) + len(hosted.billing.requests) == asked


def test_no_credential_traffic_without_sign_in(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    attempts = no_network(monkeypatch)
    code, out, err = run(capsys, tmp_path / "lib", "sync", "enable", "--backend", "s3", "--credentials", "account",
                         "--i-consent")
    assert code == 1
    assert err.strip() == "Error: hosted cloud features need a signed-in account (run: printmanager account login)"
    code, out, err = run(capsys, tmp_path / "lib", "account", "status", "--check", "--json")
    assert code == 0 and json.loads(out)["signed_in"] is False
    assert attempts == []
    with pytest.raises(SyncError, match="unknown storage credential source 'nope'"):
        storage_credentials.open_credential_source({"credentials": "nope"}, None)
