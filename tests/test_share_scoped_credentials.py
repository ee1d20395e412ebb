"""Sharing over short-lived, user-scoped storage credentials from the service, end to end.

The service (tests/account_cloud_support.py) signs the user in (the contract-faithful GoTrue
server), checks the subscription and hands out STS ``AssumeRole`` credentials from the moto
server for a role that may touch only ``users/<sub>/``. Share bundles then live under that
prefix (``users/<sub>/shares/...``); the gateway — inside ``printmanager serve`` and standalone —
presigns downloads with those credentials, session token included (``X-Amz-Security-Token``).
The S3 endpoint is moto behind the expiry gate, which checks presigned URLs as S3 does (token,
signature, the URL's expiry, the credentials' expiry: ``400 ExpiredToken``) and hands accepted
ones to moto signed with the same credentials, so moto still checks the token and the policy.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
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
from printmanager_sync.s3client import Credentials, S3Client, S3Error
from sync_support import MotoS3, free_port, no_network
from vault_support import passphrase_vault

EMAIL = "grace@example.org"
PASSWORD = "compiler one"
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

    def objects(self) -> dict[str, bytes]:
        """Every object in the hosted bucket (read with the service's own keys)."""
        with S3Client(self.storage.moto_endpoint, self.storage.bucket,
                      Credentials(self.storage.service_key_id, self.storage.service_secret)) as c:
            return {key: (c.get_object(key) or (b"", None))[0] for key, _size, _etag in c.list_objects("")}

    def asked(self) -> int:
        """Requests the service answered so far (sign-in, entitlement, storage credentials)."""
        return len(self.gotrue.requests) + len(self.billing.requests)


@pytest.fixture
def hosted(moto_s3: MotoS3, clock: ShiftedClock) -> Iterator[Hosted]:
    for gated, storage in hosted_storage(moto_s3.endpoint, clock):
        gotrue = GoTrue()
        user = gotrue.add_user(EMAIL, PASSWORD)
        billing = Billing(gotrue.key, clock)
        billing.subscribe(user.id, "pro", features=("hosted_storage",))
        running = start_service(service_app(gotrue, billing, storage))
        try:
            yield Hosted(gotrue, billing, storage, gated, running, user)
        finally:
            running.stop()


@attrs.define
class Served:
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _serve(app: Any) -> Served:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", server, thread)


def _login(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lib: Path, hosted: Hosted) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, _, err = run(capsys, lib, "account", "login", "--email", EMAIL, "--url", hosted.running.url,
                       "--anon-key", ANON_KEY)
    assert code == 0 and err == "", err


def _scan(capsys: pytest.CaptureFixture[str], lib: Path, prints: Path, *files: Path) -> dict[str, int]:
    prints.mkdir()
    for f in files:
        shutil.copyfile(f, prints / f.name)
    code, _, err = run(capsys, lib, "scan", str(prints), "--no-thumbnails")
    assert code == 0, err
    code, out, err = run(capsys, lib, "ls", "--json")
    assert code == 0, err
    return {row["name"]: int(row["id"]) for row in json.loads(out)}


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _identity(url: str) -> Any:
    import pyrage

    fragment = urlsplit(url).fragment
    assert fragment.startswith("k=")
    return pyrage.x25519.Identity.from_str(fragment[2:])


def _decrypt(blob: bytes, url: str) -> bytes:
    import pyrage

    return bytes(pyrage.decrypt(blob, [_identity(url)]))


def _presigned(gateway: str, url: str, what: str) -> str:
    """The gateway's 307 for one object of the link: the presigned URL it points at."""
    answer = httpx.get(f"{gateway}/s/{_token(url)}/{what}", timeout=30)
    assert answer.status_code == 307, answer.text
    return answer.headers["location"]


def _signed_with(presigned: str) -> tuple[str, bool]:
    """The access key id a presigned URL is signed with, and whether it carries a session token."""
    query = parse_qs(urlsplit(presigned).query)
    return query["X-Amz-Credential"][0].split("/", 1)[0], "X-Amz-Security-Token" in query


def test_share_create_open_ls_revoke_over_the_sync_containers_scoped_credentials(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpus: Path,
        hosted: Hosted, passphrase_env: str) -> None:
    """Sync on hosted storage (`sync enable --credentials account`); sharing uses that container:
    the bundle goes under the user's prefix, `serve`'s gateway presigns with the session token,
    the presigned GET (followed with httpx) gives the very bytes, `share ls`/`log`/`revoke` work."""
    from printmanager_core import Library
    from printmanager_web import create_app

    lib = tmp_path / "lib"
    spider = corpus / "assimp" / "Spider_binary.stl"
    ids = _scan(capsys, lib, tmp_path / "Prints", spider)
    _login(capsys, monkeypatch, lib, hosted)
    code, out, err = run(capsys, lib, "sync", "enable", "--backend", "s3", "--credentials", "account",
                         "--i-consent", "--json")
    assert code == 0, err
    library = Library(lib)
    served = _serve(create_app(library))
    try:
        code, out, err = run(capsys, lib, "share", "enable", "--i-consent", "--gateway", served.url, "--json")
        assert code == 0, err
        assert json.loads(out)["container"]["credentials"] == "account"
        code, out, err = run(capsys, lib, "share", "create", str(ids["Spider_binary.stl"]), "--no-thumbnails",
                             "--json")
        assert code == 0, err
        share = json.loads(out)
        [link] = share["links"]
        prefix = f"users/{hosted.user.id}/shares/"
        objects = hosted.objects()
        assert f"{prefix}{share['id']}/manifest.age" in objects and f"{prefix}{share['id']}/f/0.age" in objects
        assert all(name.startswith(f"users/{hosted.user.id}/") for name in objects)  # nothing outside the prefix

        presigned = _presigned(served.url, link["url"], "f/0")
        key, has_token = _signed_with(presigned)
        assert has_token and key.startswith("ASIA") and key in hosted.storage.issued
        assert f"/{hosted.storage.bucket}/{prefix}{share['id']}/f/0.age?" in presigned
        got = httpx.get(presigned, timeout=30)
        assert got.status_code == 200
        plain = _decrypt(got.content, link["url"])
        assert plain == spider.read_bytes()
        assert hashlib.sha256(plain).hexdigest() == hashlib.sha256(spider.read_bytes()).hexdigest()

        from printmanager_share import open_link

        opened = open_link(link["url"], tmp_path / "from-grace")  # the reader follows the same redirects
        assert (tmp_path / "from-grace" / "Spider_binary.stl").read_bytes() == spider.read_bytes()
        assert opened.share_id == share["id"]

        code, out, err = run(capsys, lib, "share", "ls", "--json")
        assert code == 0 and [s["state"] for s in json.loads(out)] == ["active"], err
        code, out, err = run(capsys, lib, "share", "log", "--json")  # the gateway's entries, under the prefix
        assert code == 0, err
        assert {"open", "download"} <= {e["action"] for e in json.loads(out) if e["allowed"]}
        code, out, err = run(capsys, lib, "share", "revoke", share["id"], "--json")
        assert code == 0, err
        assert not [n for n in hosted.objects() if n.startswith(f"{prefix}{share['id']}/")]  # crypto-shredded
        assert httpx.get(f"{served.url}/s/{_token(link['url'])}/manifest", timeout=30).status_code == 410
    finally:
        served.stop()
        library.close()
    seen = hosted.gated.gate.seen
    assert seen and all(s.session_token and (s.access_key_id or "").startswith("ASIA") for s in seen)
    assert not [s for s in seen if s.status in (400, 401, 403)]


def test_credentials_expire_mid_upload_and_under_the_standalone_gateway_and_are_refreshed(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpus: Path,
        hosted: Hosted, clock: ShiftedClock) -> None:
    """Share's own container (`share enable --credentials account`): the credentials run out in
    the middle of a bundle's multipart upload and the rest goes up with a refreshed set; the
    standalone gateway presigns with its own refreshed sets; a URL presigned with a set that has
    since expired is refused with ExpiredToken, and one presigned after the refresh works."""
    from printmanager_share import create_gateway_app, create_share
    from printmanager_share.api import enable

    from printmanager_core import Library

    lib = tmp_path / "lib"
    robot = corpus / "printer-beds" / "UltimakerRobot_support.stl"  # 9.4 MB: two 5 MiB parts
    ids = _scan(capsys, lib, tmp_path / "Prints", robot)
    _login(capsys, monkeypatch, lib, hosted)
    code, out, err = run(capsys, lib, "share", "enable", "--credentials", "account", "--i-consent", "--json")
    assert code == 0, err
    container = json.loads(out)["container"]
    assert container == {"backend": "s3", "credentials": "account", "endpoint": hosted.gated.endpoint,
                         "bucket": hosted.storage.bucket, "region": "us-east-1",
                         "prefix": f"users/{hosted.user.id}/"}  # where consent was given, kept to
    gateway = _serve(create_gateway_app({"backend": "s3", "credentials": "account", "library": str(lib)}))
    library = Library(lib)
    gate = hosted.gated.gate
    try:
        enable(library, {**container, "multipart_threshold": 6 * MiB, "part_size": 5 * MiB}, consent_given=True,
               gateway=gateway.url)
        gate.after_part = lambda: clock.advance(700)  # a part takes "700 s"; the credentials last 900 s
        result = create_share(library, str(ids["UltimakerRobot_support.stl"]), thumbnails=False)
        gate.after_part = None
        parts = gate.parts()
        assert len(parts) == 2 and all(p.status == 200 and p.session_token for p in parts)
        assert parts[0].access_key_id != parts[1].access_key_id, "the second part is signed with a refreshed set"
        url = result.links[0].url

        first = _presigned(gateway.url, url, "f/0")
        first_key, has_token = _signed_with(first)
        assert has_token and first_key in hosted.storage.issued
        assert _decrypt(httpx.get(first, timeout=30).content, url) == robot.read_bytes()

        clock.advance(1000)  # the gateway's set is past its expiry now (the URL itself is still in its 60 s)
        refused = httpx.get(first, timeout=30)
        assert refused.status_code == 400 and "<Code>ExpiredToken</Code>" in refused.text

        second = _presigned(gateway.url, url, "f/0")  # presigned after the refresh
        second_key, has_token = _signed_with(second)
        assert has_token and second_key != first_key and second_key in hosted.storage.issued
        got = httpx.get(second, timeout=30)
        assert got.status_code == 200
        assert hashlib.sha256(_decrypt(got.content, url)).hexdigest() == hashlib.sha256(robot.read_bytes()).hexdigest()

        # a recorded prefix the credentials no longer cover is refused, never followed
        from printmanager_share.container import open_container
        from printmanager_share.errors import ShareError

        with pytest.raises(ShareError, match=f"now scoped to users/{hosted.user.id}/, not users/someone-else/"):
            open_container({**container, "prefix": "users/someone-else/"}, library)
    finally:
        gate.after_part = None
        gateway.stop()
        library.close()
    assert hosted.storage.issued[first_key].expires_at < clock()
    refusals = [s for s in gate.seen if s.status >= 400]
    assert [(s.access_key_id, s.status) for s in refusals] == [(first_key, 400)]  # only the stale URL


def test_presigned_urls_and_deletes_are_checked_as_s3_checks_them(hosted: Hosted,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate refuses a presigned URL whose signature, token or own expiry is wrong, and a
    DeleteObjects naming a key outside the user's prefix, as S3 does."""
    issued = hosted.storage.issue(hosted.user.id)
    name = f"users/{hosted.user.id}/shares/probe"
    scoped = Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
    with S3Client(issued["Endpoint"], issued["Bucket"], scoped) as c:
        c.put_object(name, b"probe")
        good = c.presign("GET", name, expires=60)
        elsewhere = c.presign("GET", "users/someone-else/shares/probe", expires=60)
        with monkeypatch.context() as m:  # a URL presigned two minutes ago, valid for one
            import botocore.auth

            then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=2)
            m.setattr(botocore.auth, "get_current_datetime", lambda: then)
            stale = c.presign("GET", name, expires=60)
        with pytest.raises(S3Error, match="AccessDenied"):
            c.delete_objects([f"users/{hosted.user.id}/shares/probe", "users/someone-else/shares/probe"])
        assert c.head_object(name) is not None
    assert httpx.get(good, timeout=30).content == b"probe"
    assert "<Code>SignatureDoesNotMatch</Code>" in httpx.get(good.replace("probe?", "probf?"), timeout=30).text
    assert "<Code>InvalidToken</Code>" in httpx.get(good.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x"),
                                                   timeout=30).text
    assert httpx.get(elsewhere, timeout=30).status_code == 403  # moto's policy check: only the user's prefix
    answer = httpx.get(stale, timeout=30)
    assert answer.status_code == 403 and "Request has expired" in answer.text


def test_the_share_gateway_command_presigns_with_the_signed_in_librarys_credentials(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpus: Path,
        hosted: Hosted) -> None:
    """`printmanager --library DIR share gateway --config FILE` (a process of its own) with
    ``"credentials": "account"``: it asks the service for the signed-in library's credentials
    and the links open through it."""
    from printmanager_share import open_link

    lib = tmp_path / "lib"
    spider = corpus / "assimp" / "spider.obj"
    ids = _scan(capsys, lib, tmp_path / "Prints", spider)
    _login(capsys, monkeypatch, lib, hosted)
    port = free_port()
    code, out, err = run(capsys, lib, "share", "enable", "--credentials", "account", "--gateway",
                         f"http://127.0.0.1:{port}", "--i-consent")
    assert code == 0, err
    code, out, err = run(capsys, lib, "share", "create", str(ids["spider.obj"]), "--no-thumbnails", "--json")
    assert code == 0, err
    [link] = json.loads(out)["links"]
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"backend": "s3", "credentials": "account"}))
    issued = set(hosted.storage.issued)
    exe = Path(sys.executable).with_name("printmanager")
    proc = subprocess.Popen([str(exe), "--library", str(lib), "share", "gateway", "--config", str(config),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        key, has_token = _signed_with(_presigned(f"http://127.0.0.1:{port}", link["url"], "f/0"))
        assert has_token and key in set(hosted.storage.issued) - issued  # the gateway's own set
        open_link(link["url"], tmp_path / "opened")
        assert (tmp_path / "opened" / "spider.obj").read_bytes() == spider.read_bytes()
    finally:
        proc.terminate()
        proc.wait(10)
    # `privacy delete` takes the shares out of the hosted storage (before the account signs out)
    assert any("/shares/" in n for n in hosted.objects())
    code, out, err = run(capsys, lib, "privacy", "delete", "--yes", "--json")
    assert code == 0, err
    assert not [n for n in hosted.objects() if n.startswith(f"users/{hosted.user.id}/shares/")]


def test_static_keys_still_work_and_never_ask_the_service(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpus: Path,
        hosted: Hosted, s3_env: MotoS3) -> None:
    """Signed in, but sharing to a bucket of one's own with static keys: shares at the container's
    root, presigned URLs without a session token, and not one request to the service."""
    from printmanager_share import create_gateway_app

    lib = tmp_path / "lib"
    box = corpus / "assimp" / "box.obj"
    ids = _scan(capsys, lib, tmp_path / "Prints", box)
    _login(capsys, monkeypatch, lib, hosted)
    asked = hosted.asked()
    bucket = s3_env.new_bucket()
    config = {"backend": "s3", "endpoint": s3_env.endpoint, "bucket": bucket}
    direct = _serve(create_gateway_app(config))
    proxied = _serve(create_gateway_app({**config, "proxy": True}))  # moto cannot check presigned URLs itself
    try:
        code, out, err = run(capsys, lib, "share", "enable", "--backend", "s3", "--endpoint", s3_env.endpoint,
                             "--bucket", bucket, "--gateway", proxied.url, "--i-consent")
        assert code == 0, err
        code, out, err = run(capsys, lib, "share", "create", str(ids["box.obj"]), "--no-thumbnails", "--json")
        assert code == 0, err
        share = json.loads(out)
        [link] = share["links"]
        assert f"shares/{share['id']}/f/0.age" in s3_env.raw_objects(bucket)
        key, has_token = _signed_with(_presigned(direct.url, link["url"], "f/0"))
        assert key == s3_env.access_key_id and not has_token
        got = httpx.get(f"{proxied.url}/s/{_token(link['url'])}/f/0", timeout=30)
        assert got.status_code == 200 and _decrypt(got.content, link["url"]) == box.read_bytes()
        code, out, err = run(capsys, lib, "share", "revoke", share["id"])
        assert code == 0, err
    finally:
        direct.stop()
        proxied.stop()
    assert hosted.asked() == asked


def test_no_service_traffic_without_sign_in(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    attempts = no_network(monkeypatch)
    lib = tmp_path / "lib"
    code, out, err = run(capsys, lib, "share", "enable", "--credentials", "account", "--i-consent")
    assert code == 1 and out == ""
    assert err.strip() == "Error: hosted cloud features need a signed-in account (run: printmanager account login)"
    code, out, err = run(capsys, lib, "share", "status", "--json")
    assert code == 0 and json.loads(out)["enabled"] is False, err
    code, out, err = run(capsys, lib, "share", "ls")
    assert code == 0 and out.strip() == "no shares", err
    assert attempts == []
