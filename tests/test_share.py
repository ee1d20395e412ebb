"""Encrypted share links end to end: real S3 (moto server) and folder containers, the gateway under
uvicorn on 127.0.0.1, Debian's `age` opening a bundle, `share open` round trips, 404/410, open
limits, passwords, revocation (the bundle gone from the bucket), expiry with an injected clock,
retention, privacy delete/export, and no plaintext name, path, token or key where it must not be."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import attrs
import httpx
import pytest
from click.testing import CliRunner
from sync_support import MotoS3, make_prints, scanned_library, tree

from printmanager_core.cli import load_commands

UTC = _dt.timezone.utc


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sharer's keys live in the vault: a passphrase vault with fast scrypt."""
    from printmanager_vault import kdf

    monkeypatch.setenv("PRINTMANAGER_VAULT_BACKEND", "passphrase")
    monkeypatch.setenv("PRINTMANAGER_VAULT_PASSPHRASE", "vault passphrase")
    kdf.set_scrypt_params_for_tests(kdf.TEST_SCRYPT)
    yield


@attrs.define
class Clock:
    """An injectable clock for the gateway: real time plus an offset the test moves."""

    offset: _dt.timedelta = _dt.timedelta(0)

    def __call__(self) -> _dt.datetime:
        return _dt.datetime.now(UTC) + self.offset


@attrs.define
class Running:
    url: str
    server: Any
    thread: threading.Thread


def _serve(app: Any) -> Running:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Running(f"http://127.0.0.1:{port}", server, thread)


def _stop(running: Running) -> None:
    running.server.should_exit = True
    running.thread.join(10)


@attrs.define
class Setup:
    library: Any
    prints: Path
    config: dict[str, Any]
    gateway: str
    clock: Clock
    s3: MotoS3 | None = None
    bucket: str | None = None

    def objects(self) -> dict[str, bytes]:
        """Every object in the container, as its host sees it."""
        if self.s3 is not None:
            assert self.bucket is not None
            return self.s3.raw_objects(self.bucket)
        root = Path(self.config["path"])
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _setup(tmp_path: Path, corpus: Path, config: dict[str, Any], **extra: Any) -> Iterator[Setup]:
    from printmanager_share import create_gateway_app, enable

    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "library", [prints])
    clock = Clock()
    running = _serve(create_gateway_app(config, clock=clock))
    try:
        enable(lib, config, consent_given=True, gateway=running.url)
        yield Setup(lib, prints, config, running.url, clock, **extra)
    finally:
        _stop(running)
        lib.close()


@pytest.fixture
def folder_share(tmp_path: Path, corpus: Path) -> Iterator[Setup]:
    """A library sharing into a folder container, the standalone gateway over it."""
    yield from _setup(tmp_path, corpus, {"backend": "folder", "path": str(tmp_path / "container")})


@pytest.fixture
def s3_share(tmp_path: Path, corpus: Path, s3_env: MotoS3) -> Iterator[Setup]:
    """A library sharing into a moto S3 bucket (SigV4 checked), the standalone gateway over it."""
    bucket = s3_env.new_bucket()
    # proxy: moto cannot check presigned URLs' signatures (tests/test_sync_s3.py checks ours against AWS's example)
    config = {"backend": "s3", "endpoint": s3_env.endpoint, "bucket": bucket, "multipart_threshold": 64 * 1024,
              "part_size": 5 * 1024 * 1024, "proxy": True}
    yield from _setup(tmp_path, corpus, config, s3=s3_env, bucket=bucket)


def _cli(*args: str, library: Any = None, env: dict[str, str] | None = None) -> Any:
    head = ["--library", str(library.directory)] if library is not None else []
    return CliRunner().invoke(load_commands(), [*head, "share", *args], env=env, catch_exceptions=False)


def _model(lib: Any, name: str) -> Any:
    return next(m for m in lib.models() if m.name == name)


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _key(url: str) -> str:
    fragment = urlsplit(url).fragment
    assert fragment.startswith("k=")
    return fragment[2:]


def _get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, follow_redirects=True, timeout=30, **kw)


# -- the round trip ---------------------------------------------------------------------------------


def test_s3_share_opens_with_share_open_and_with_age(s3_share: Setup, corpus: Path, tmp_path: Path) -> None:
    """A model shared into S3: `share open` writes byte-identical files; Debian's `age -d` opens
    the manifest and a file fetched through the gateway with the key from the link."""
    lib = s3_share.library
    benchy = _model(lib, "Benchy")
    made = _cli("create", f"model:{benchy.id}", "--to", "ana@example.org", "--expires", "7d", "--json", library=lib)
    assert made.exit_code == 0, made.output
    share = json.loads(made.output)
    originals = tree(corpus / "Benchy multi-part")
    assert share["file_count"] == len(originals) and share["total_size"] == sum(map(len, originals.values()))
    [link] = share["links"]
    assert link["recipient"] == "ana@example.org" and link["url"].startswith(f"{s3_share.gateway}/s/")
    assert len(_token(link["url"])) == 43  # secrets.token_urlsafe(32)

    # the bundle's objects are in the bucket under shares/<id>/; large files went up in parts
    names = set(s3_share.objects())
    assert f"shares/{share['id']}/manifest.age" in names
    assert {f"shares/{share['id']}/f/{n}.age" for n in range(len(originals))} <= names

    # S3 without proxy: the gateway redirects to a short-lived presigned GET of the object
    from printmanager_share import create_gateway_app

    direct = _serve(create_gateway_app({**s3_share.config, "proxy": False}))
    try:
        manifest = httpx.get(f"{direct.url}/s/{_token(link['url'])}/manifest", timeout=30)
    finally:
        _stop(direct)
    location = manifest.headers["location"]
    assert manifest.status_code == 307 and "X-Amz-Signature=" in location and "X-Amz-Expires=60" in location
    assert f"/{s3_share.bucket}/shares/{share['id']}/manifest.age?" in location

    out = tmp_path / "from-ana"
    opened = _cli("open", link["url"], "--to", str(out), "--json")
    assert opened.exit_code == 0, opened.output
    result = json.loads(opened.output)
    assert result["share_id"] == share["id"] and result["title"] == "Benchy"
    assert tree(out) == originals  # byte-identical, relative paths kept

    # any age implementation: the reference `age` tool with the key from the link
    key_file = tmp_path / "key.txt"
    key_file.write_text(_key(link["url"]) + "\n")
    enc = _get(f"{s3_share.gateway}/s/{_token(link['url'])}/manifest").content
    env = json.loads(subprocess.run(["age", "-d", "-i", str(key_file)], input=enc, capture_output=True,
                                    check=True).stdout)
    inner = json.loads(env["manifest"])
    assert env["format"] == "printmanager-share/1" and env["signature"]["alg"] == "ed25519"
    first = inner["files"][0]
    blob = _get(f"{s3_share.gateway}/s/{_token(link['url'])}/f/{first['n']}").content
    plain = subprocess.run(["age", "-d", "-i", str(key_file)], input=blob, capture_output=True, check=True).stdout
    assert plain == originals[first["path"]]
    assert hashlib.sha256(plain).hexdigest() == first["sha256"] and len(plain) == first["size"]
    assert first["name"] == first["path"].rsplit("/", 1)[-1]

    # a tampered manifest (re-encrypted to the same key, one byte changed) fails the signature check
    from printmanager_share.errors import BundleInvalid
    from printmanager_share.reader import read_envelope

    env["manifest"] = env["manifest"].replace("Benchy", "Benchx", 1)
    with pytest.raises(BundleInvalid, match="signature"):
        read_envelope(json.dumps(env).encode())


def test_share_targets_file_collection_and_query(folder_share: Setup, tmp_path: Path) -> None:
    """A file id, a collection (one folder per model) and a query result each make a bundle."""
    from printmanager_share import create_share, open_link

    lib = folder_share.library
    spider = _model(lib, "Spider")
    lib.create_collection("Bugs")
    lib.add_to_collection("Bugs", spider.id)
    one = lib.files("name:Spider_ascii.stl")[0]
    cases = {
        str(one.id): {"Spider_ascii.stl"},
        "collection:Bugs": {"Spider/Spider_ascii.stl", "Spider/spider.obj"},
        "query:format:3mf": {"box.3mf", "cube_gears.3mf"},
    }
    for target, expected in cases.items():
        result = create_share(lib, target, thumbnails=False)
        out = tmp_path / f"out-{result.share.id}"
        open_link(result.links[0].url, out)
        assert set(tree(out)) == expected, target
        for rel, data in tree(out).items():
            src = next(p for p in folder_share.prints.rglob(rel.rsplit("/", 1)[-1]))
            assert data == src.read_bytes()


def test_thumbnails_travel_encrypted_in_the_bundle(folder_share: Setup) -> None:
    """A shared 3MF's embedded picture is in the bundle as t/<n>.age, listed in the manifest."""
    import pyrage

    from printmanager_share import create_share
    from printmanager_share.reader import read_envelope

    lib = folder_share.library
    gears = lib.files("name:cube_gears.3mf")[0]
    result = create_share(lib, f"file:{gears.id}")
    url = result.links[0].url
    identity = pyrage.x25519.Identity.from_str(_key(url))
    manifest, _ = read_envelope(pyrage.decrypt(_get(f"{folder_share.gateway}/s/{_token(url)}/manifest").content,
                                               [identity]))
    [entry] = manifest["files"]
    assert entry["thumbnail"] == 0 and manifest["thumbnails"][0]["media_type"] == "image/png"
    png = pyrage.decrypt(_get(f"{folder_share.gateway}/s/{_token(url)}/t/0").content, [identity])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and hashlib.sha256(png).hexdigest() == manifest["thumbnails"][0]["sha256"]


# -- the gateway's answers ------------------------------------------------------------------------------


def test_gateway_answers_404_for_unknown_and_serves_the_page(folder_share: Setup) -> None:
    from printmanager_share import create_share

    lib = folder_share.library
    gw = folder_share.gateway
    unknown = "A" * 43
    assert _get(f"{gw}/s/{unknown}").status_code == 404
    assert _get(f"{gw}/s/{unknown}/manifest").json()["state"] == "unknown"
    assert _get(f"{gw}/s/{unknown}/f/0").status_code == 404
    result = create_share(lib, f"model:{_model(lib, 'Spider').id}", to=["ana@example.org"], thumbnails=False)
    token = _token(result.links[0].url)
    page = _get(f"{gw}/s/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # the page's inline import map is allowed by its hash, nothing else inline
    import base64
    import re

    for block in re.findall(rb"<script type=\"importmap\">(.*?)</script>", page.content, re.S):
        assert f"'sha256-{base64.b64encode(hashlib.sha256(block).digest()).decode()}'" in csp
    script = re.search(r'<script type="module" src="([^"]+)"', page.text)
    if script:  # the recipient page's module loads from /s/static/
        assert _get(f"{gw}/s/{script.group(1)}").status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    status = _get(f"{gw}/s/{token}/status").json()
    assert status == {"state": "ok", "expires_at": None, "opens_left": None, "password": False}
    assert _get(f"{gw}/s/{token}/f/99").status_code == 404  # not in the bundle
    assert _get(f"{gw}/healthz").json() == {"ok": True}


def test_open_limit_counts_manifest_fetches_and_files_follow_a_counted_open(folder_share: Setup,
                                                                            tmp_path: Path) -> None:
    from printmanager_share import create_share, open_link
    from printmanager_share.errors import LinkRefused

    lib = folder_share.library
    gw = folder_share.gateway
    result = create_share(lib, f"model:{_model(lib, 'Spider').id}", to=["ana@example.org"], max_opens=2,
                          thumbnails=False)
    url = result.links[0].url
    token = _token(url)
    assert _get(f"{gw}/s/{token}/f/0").status_code == 410  # no counted open yet
    assert _get(f"{gw}/s/{token}/status").json()["opens_left"] == 2
    open_link(url, tmp_path / "one")
    assert _get(f"{gw}/s/{token}/status").json()["opens_left"] == 1
    open_link(url, tmp_path / "two")
    with pytest.raises(LinkRefused) as refused:
        open_link(url, tmp_path / "three")
    assert refused.value.status == 410 and refused.value.state == "exhausted"
    assert _get(f"{gw}/s/{token}/f/0").status_code == 200  # within the hour after the last open
    folder_share.clock.offset = _dt.timedelta(hours=2)
    assert _get(f"{gw}/s/{token}/f/0").status_code == 410
    assert _get(f"{gw}/s/{token}").status_code == 410


def test_apply_retention_deletes_expired_bundles_and_the_gateway_says_410(folder_share: Setup,
                                                                         tmp_path: Path) -> None:
    """Expiry with an injected clock: the gateway refuses after expires_at; `privacy retention apply`
    (the apply_retention hook) then deletes the bundle from the container."""
    from printmanager_share import create_share, list_shares, open_link
    from printmanager_share.errors import LinkRefused

    lib = folder_share.library
    made = _dt.datetime.now(UTC)
    result = create_share(lib, f"model:{_model(lib, 'Spider').id}", to=["ana@example.org"], expires="1d",
                          thumbnails=False, now=made)
    url, sid = result.links[0].url, result.share.id
    open_link(url, tmp_path / "in-time")
    folder_share.clock.offset = _dt.timedelta(days=1, minutes=1)
    with pytest.raises(LinkRefused) as refused:
        open_link(url, tmp_path / "late")
    assert refused.value.status == 410 and refused.value.state == "expired"
    assert any(n.startswith(f"shares/{sid}/") for n in folder_share.objects())

    # nothing is due yet at the real time
    lib.apply_retention(now=made + _dt.timedelta(hours=1))
    assert any(n.startswith(f"shares/{sid}/") for n in folder_share.objects())
    report = lib.apply_retention(now=made + _dt.timedelta(days=2))
    assert report.removed["share bundles"] == 1 and report.removed["share objects"] >= 3
    assert not any(n.startswith(f"shares/{sid}/") for n in folder_share.objects())
    assert _get(f"{folder_share.gateway}/s/{_token(url)}/manifest").status_code == 410
    assert list_shares(lib)[0].state == "deleted"
    # the gateway's log entries were moved into the library before the bundle went
    actions = [e.action for e in lib_access(lib)]
    assert "open" in actions and "denied" in actions


def lib_access(lib: Any) -> list[Any]:
    from printmanager_core.privacy.sharing import Shares

    return Shares.for_library(lib).access_log()


def test_password_link_needs_the_password(folder_share: Setup, tmp_path: Path) -> None:
    from printmanager_share import create_share, open_link
    from printmanager_share.errors import ShareError

    lib = folder_share.library
    result = create_share(lib, f"model:{_model(lib, 'Spider').id}", to=["ana@example.org"],
                          password="correct horse", thumbnails=False)
    url = result.links[0].url
    fragment = urlsplit(url).fragment
    assert fragment.startswith("w=") and "AGE-SECRET-KEY" not in url
    assert _get(f"{folder_share.gateway}/s/{_token(url)}/status").json()["password"] is True
    with pytest.raises(ShareError, match="password"):
        open_link(url, tmp_path / "none")
    with pytest.raises(ShareError, match="wrong password"):
        open_link(url, tmp_path / "wrong", password="incorrect horse")
    refused = _cli("open", url, "--to", str(tmp_path / "cli-wrong"), env={"PRINTMANAGER_SHARE_PASSWORD": "nope"})
    assert refused.exit_code == 1 and "wrong password" in refused.output
    ok = _cli("open", url, "--to", str(tmp_path / "cli"), "--json",
              env={"PRINTMANAGER_SHARE_PASSWORD": "correct horse"})
    assert ok.exit_code == 0, ok.output
    assert set(tree(tmp_path / "cli")) == {"Spider_ascii.stl", "spider.obj"}


def test_revoking_one_recipient_leaves_the_others_then_revoke_shreds_the_bundle(
    s3_share: Setup, tmp_path: Path
) -> None:
    """Per-recipient revocation, then the whole share: its objects are gone from the bucket."""
    from printmanager_share import open_link
    from printmanager_share.errors import LinkRefused

    lib = s3_share.library
    from printmanager_core.privacy.sharing import Shares

    Shares.for_library(lib).create_list("club", ["ana@example.org", "bo@example.org", "cy@example.org"])
    made = _cli("create", f"model:{_model(lib, 'Spider').id}", "--list", "club", "--no-thumbnails", "--json",
                library=lib)
    assert made.exit_code == 0, made.output
    share = json.loads(made.output)
    links = {link["recipient"]: link["url"] for link in share["links"]}
    assert set(links) == {"ana@example.org", "bo@example.org", "cy@example.org"}
    assert len({_token(u) for u in links.values()}) == 3  # one token per member
    assert len({_key(u) for u in links.values()}) == 1  # one share key

    one = _cli("revoke", share["id"][:8], "--recipient", "bo@example.org", "--json", library=lib)
    assert one.exit_code == 0, one.output
    with pytest.raises(LinkRefused) as refused:
        open_link(links["bo@example.org"], tmp_path / "bo")
    assert refused.value.status == 410 and refused.value.state == "revoked"
    open_link(links["ana@example.org"], tmp_path / "ana")
    open_link(links["cy@example.org"], tmp_path / "cy")
    assert any(n.startswith(f"shares/{share['id']}/") for n in s3_share.objects())

    listed = json.loads(_cli("ls", "--json", library=lib).output)
    revoked = {li["recipient"]: li["revoked_at"] is not None for li in listed[0]["links"]}
    assert revoked == {"ana@example.org": False, "bo@example.org": True, "cy@example.org": False}

    log = json.loads(_cli("log", share["id"], "--json", library=lib).output)
    by = {(e["recipient"], e["action"], e["allowed"]) for e in log}
    assert ("ana@example.org", "open", True) in by and ("bo@example.org", "denied", False) in by
    assert all(e["client"] == "printmanager" for e in log)  # coarse: no IP unless share.log_ip

    everything = _cli("revoke", share["id"], "--json", library=lib)
    assert everything.exit_code == 0 and json.loads(everything.output)["state"] == "deleted"
    assert not any(n.startswith(f"shares/{share['id']}/") for n in s3_share.objects())
    for url in links.values():
        assert _get(f"{s3_share.gateway}/s/{_token(url)}/manifest").status_code == 410


def test_share_created_hook_gets_each_recipients_link(folder_share: Setup) -> None:
    from printmanager_core import hookimpl
    from printmanager_share import create_share

    calls: list[tuple[Any, list[Any]]] = []

    class Notifier:
        @hookimpl
        def share_created(self, library: Any, share: Any, links: list[Any]) -> None:
            calls.append((share, links))

    lib = folder_share.library
    pm = lib._pm
    plugin = Notifier()
    pm.register(plugin, name="test-notifier")
    try:
        result = create_share(lib, f"model:{_model(lib, 'Spider').id}", to=["ana@example.org", "bo@example.org"],
                              thumbnails=False)
    finally:
        pm.unregister(plugin)
    [(share, links)] = calls
    assert share.id == result.share.id and share.file_count == 2
    assert [(li.recipient, li.url) for li in links] == [(li.recipient, li.url) for li in result.links]
    assert len({li.url for li in links}) == 2


def test_sharing_needs_consent_recorded_in_the_ledger(tmp_path: Path, corpus: Path) -> None:
    from printmanager_share import create_share, disable, enable
    from printmanager_share.errors import SharingDisabled

    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "library", [prints])
    try:
        spider = _model(lib, "Spider")
        with pytest.raises(SharingDisabled):
            create_share(lib, f"model:{spider.id}")
        with pytest.raises(SharingDisabled):  # main() prints it as one line
            _cli("create", f"model:{spider.id}", library=lib)
        config = {"backend": "folder", "path": str(tmp_path / "container")}
        with pytest.raises(SharingDisabled):
            enable(lib, config, consent_given=False)
        enable(lib, config, consent_given=True)
        entry = [e for e in lib.settings.consent_ledger() if e["switch"] == "privacy.share"][-1]
        assert entry["value"] is True and entry["detail"]["backend"] == "folder"
        assert entry["detail"]["path"] == config["path"]
        disable(lib)
        with pytest.raises(SharingDisabled):
            create_share(lib, f"model:{spider.id}")
        assert not (tmp_path / "container" / "shares").exists() or not any((tmp_path / "container").rglob("*.age"))
    finally:
        lib.close()


def test_serve_routes_answer_links_over_the_librarys_container(folder_share: Setup, tmp_path: Path) -> None:
    """`printmanager serve` (create_app) serves the same /s/... routes through its route hook."""
    from printmanager_share import create_share, open_link
    from printmanager_web import create_app

    lib = folder_share.library
    running = _serve(create_app(lib))
    try:
        result = create_share(lib, f"model:{_model(lib, 'Spider').id}", gateway=running.url, thumbnails=False)
        url = result.links[0].url
        assert url.startswith(running.url + "/s/")
        assert _get(f"{running.url}/s/{_token(url)}/status").json()["state"] == "ok"
        open_link(url, tmp_path / "via-serve")
        assert set(tree(tmp_path / "via-serve")) == {"Spider_ascii.stl", "spider.obj"}
        assert _get(f"{running.url}/s/{'B' * 43}/manifest").status_code == 404
    finally:
        _stop(running)


# -- privacy ---------------------------------------------------------------------------------------------


def _plain_needles(lib: Any, urls: list[str]) -> dict[str, bytes]:
    """What must never appear in the container: names, paths, tokens, keys."""
    from printmanager_share.keys import sharer_keys

    needles: dict[str, bytes] = {}
    for f in lib.files():
        needles[f"name {f.name}"] = f.name.encode()
        needles[f"path {f.path}"] = f.path.encode()
    for url in urls:
        needles[f"token of {url[:40]}"] = _token(url).encode()
        needles["share key"] = _key(url).encode()
        needles["share key (lower)"] = _key(url).lower().encode()
    keys = sharer_keys(lib, create=False)
    assert keys is not None
    needles["log identity"] = keys.log_identity.encode()
    needles["signing key"] = keys.signing_private
    return needles


def test_no_name_path_token_or_key_in_plaintext_in_bucket_database_or_wal(s3_share: Setup, tmp_path: Path) -> None:
    from printmanager_share import create_share, open_link, share_log

    lib = s3_share.library
    urls = []
    for target in (f"model:{_model(lib, 'Benchy').id}", f"model:{_model(lib, 'Spider').id}"):
        result = create_share(lib, target, to=["ana@example.org", "bo@example.org"], max_opens=5)
        urls += [li.url for li in result.links]
    for n, url in enumerate(urls[::2]):
        open_link(url, tmp_path / f"open-{n}")
    share_log(lib)
    needles = _plain_needles(lib, urls)
    assert len(needles) > 20
    objects = s3_share.objects()
    assert any(n.endswith("manifest.age") for n in objects) and any(n.startswith("shares/tokens/") for n in objects)
    for name, data in objects.items():
        for what, needle in needles.items():
            assert needle not in data and needle.decode("latin-1") not in name, f"{what} in bucket object {name}"
    # the library database and its WAL: no token, no key (file names are the catalogue's own business)
    secrets_only = {k: v for k, v in needles.items() if not k.startswith(("name ", "path "))}
    db_files = [p for p in lib.directory.iterdir() if p.name.startswith("printmanager.db")]
    assert lib.db_path in db_files, db_files
    for path in [*db_files, lib.directory / "vault.bin"]:
        if not path.exists():
            continue
        data = path.read_bytes()
        for what, needle in secrets_only.items():
            assert needle not in data, f"{what} in {path.name}"


def test_privacy_export_includes_shares_and_logs_and_delete_removes_every_share(
    folder_share: Setup, tmp_path: Path
) -> None:
    from printmanager_core.privacy.delete import delete_library
    from printmanager_core.privacy.export import export_library
    from printmanager_share import create_share, open_link, share_log

    lib = folder_share.library
    result = create_share(lib, f"model:{_model(lib, 'Spider').id}", to=["ana@example.org"], thumbnails=False)
    open_link(result.links[0].url, tmp_path / "ana")
    share_log(lib)
    out = tmp_path / "export.zip"
    export_library(lib, out)
    with zipfile.ZipFile(out) as zf:
        bundles = json.loads(zf.read("share_bundles.json"))
        core = json.loads(zf.read("shares.json"))
        whole = b"".join(zf.read(n) for n in zf.namelist())
    assert bundles["bundles"][0]["id"] == result.share.id
    assert bundles["links"][0]["recipient"] == "ana@example.org"
    assert [e["switch"] for e in bundles["consent"]] == ["privacy.share"]
    assert any(e["action"] == "open" for e in core["access_log"])
    assert _token(result.links[0].url).encode() not in whole and _key(result.links[0].url).encode() not in whole

    container = Path(folder_share.config["path"])
    assert list(container.rglob("*.age"))
    delete_library(lib)
    assert not [p for p in (container / "shares").rglob("*") if p.is_file()]


def test_copy_tree_helper_is_real(corpus: Path, tmp_path: Path) -> None:
    """The tests' view of a folder (`tree`) reads real bytes (guards the round-trip assertions)."""
    shutil.copytree(corpus / "Benchy multi-part", tmp_path / "b")
    files = tree(tmp_path / "b")
    assert files and all(isinstance(v, bytes) and v for v in files.values())
