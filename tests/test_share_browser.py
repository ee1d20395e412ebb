"""A share opened for real: moto S3 + the standalone gateway under uvicorn + headless Chromium.

The sharer's library makes a share of a model (age bundle in the bucket); the
recipient's browser opens the link, the page decrypts the manifest and the
thumbnails, checks the signature, and downloads every file, which must be byte
for byte the original. Then the refusals a recipient can meet: a wrong key, an
unknown link, a revoked link (the other recipient's still works), an expired
one (the gateway's clock is injected), a used-up one, and a password share.
The screenshot in docs/sharing.md is taken here (docs/share-page.png).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from sync_support import MotoS3
from web_support import running
from vault_support import passphrase_vault

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ANA, BO = "ana@example.org", "bo@example.net"
PASSWORD = "dinghy 7 rudder"


class Clock:
    """The gateway's clock: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + self.offset


@pytest.fixture(scope="module")
def vault_env() -> Iterator[None]:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    mp = pytest.MonkeyPatch()
    with passphrase_vault(mp):
        yield
    mp.undo()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, corpus: Path, moto_s3: MotoS3, vault_env: None) -> Iterator[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from printmanager_core import Library
    from printmanager_share import create_gateway_app, enable

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", moto_s3.access_key_id)
    mp.setenv("AWS_SECRET_ACCESS_KEY", moto_s3.secret_access_key)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)
    base_dir = tmp_path_factory.mktemp("share-browser")
    boat = base_dir / "Prints" / "Benchy parts"
    boat.mkdir(parents=True)
    for stl in sorted((corpus / "Benchy multi-part").glob("*.stl"))[:3]:
        shutil.copy2(stl, boat / stl.name)
    shutil.copy2(next((corpus / "sliced").glob("*.gcode")), boat / "benchy-sliced.gcode")
    lib = Library(base_dir / "library")
    lib.scan([base_dir / "Prints"], workers=1)
    [model] = lib.models('model:"Benchy parts"')
    lib.update_model(model.id, creator="CreativeTools", licence="CC BY-ND 4.0")
    config = {"backend": "s3", "endpoint": moto_s3.endpoint, "bucket": moto_s3.new_bucket(), "region": "us-east-1"}
    clock = Clock()
    # proxy: the gateway streams the objects (moto checks SigV4 on every request, but cannot check a
    # presigned URL's query signature; the redirect path is tested below against a second moto server)
    gateway_app = create_gateway_app({**config, "proxy": True}, clock=clock)
    with running(gateway_app) as base, sync_playwright() as pw:
        enable(lib, config, consent_given=True, gateway=base)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1100, "height": 760}, accept_downloads=True)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        yield {"lib": lib, "model": model, "base": base, "page": page, "context": context, "clock": clock,
               "config": config, "moto": moto_s3, "problems": problems}
        context.close()
        browser.close()
    lib.close()
    mp.undo()


def _open(page: Any, url: str, until: str = "ready") -> dict[str, Any]:
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_function(f"() => window.pmShare && (window.pmShare.state === '{until}' || window.pmShare.state === 'error')",
                           timeout=60000)
    return page.evaluate("window.pmShare")  # type: ignore[no-any-return]


def _originals(lib: Any, model: Any) -> dict[str, bytes]:
    return {Path(f.path).name: Path(f.path).read_bytes() for f in lib.files("", limit=None) if f.model_id == model.id}


def test_browser_opens_a_share_and_downloads_every_file_byte_identical(world: dict[str, Any]) -> None:
    from printmanager_share import create_share

    page, lib, model = world["page"], world["lib"], world["model"]
    result = create_share(lib, f"model:{model.id}", to=[ANA, BO], expires="7d", message="The boat, in parts.")
    links = {link.recipient: link.url for link in result.links}
    assert set(links) == {ANA, BO} and links[ANA] != links[BO]
    state = _open(page, links[ANA])
    assert state["state"] == "ready", state
    assert state["verified"] is True and state["fingerprint"]
    assert page.locator("#fingerprint").inner_text() == state["fingerprint"]
    assert page.locator("#title").inner_text() == "Benchy parts"
    originals = _originals(lib, model)
    assert sorted(f["name"] for f in state["files"]) == sorted(originals)
    pictured = [f for f in state["files"] if f["thumbnail"] is not None]
    assert len(pictured) == len(originals)  # every file has a thumbnail (rendered or embedded)
    page.wait_for_function(f"() => window.pmShare.thumbnails === {len(pictured)}", timeout=30000)
    assert page.locator("img.thumb").count() == len(pictured)
    assert page.evaluate("[...document.querySelectorAll('img.thumb')].every(i => i.naturalWidth > 0)")
    page.screenshot(path=str(DOCS / "share-page.png"))

    for entry in state["files"]:
        with page.expect_download(timeout=60000) as info:
            page.click(f".file[data-n='{entry['n']}'] button.download")
        download = info.value
        assert download.suggested_filename == entry["name"]
        assert Path(download.path()).read_bytes() == originals[entry["name"]], entry["name"]
        page.wait_for_function(f"() => window.pmShare.downloads[{entry['n']}] === 'ok'")
    assert page.locator(".state.ok").count() == len(originals)
    assert world["problems"] == []

    # Bo's link is his own, and opens the same share
    assert _open(page, links[BO])["state"] == "ready"


def test_browser_says_wrong_key_unknown_and_incomplete(world: dict[str, Any]) -> None:
    import pyrage

    from printmanager_share import create_share

    page, lib, model = world["page"], world["lib"], world["model"]
    [link] = create_share(lib, f"model:{model.id}", to=[ANA]).links
    address, _ = link.url.split("#", 1)
    other = str(pyrage.x25519.Identity.generate())
    state = _open(page, f"{address}#k={other}")
    assert state["error"]["code"] == "wrong-key"
    assert page.locator("#error strong").inner_text() == "The key in this link does not open this share"
    assert page.locator("#files .file").count() == 0
    state = _open(page, address)
    assert state["error"]["code"] == "no-key" and page.locator("#error strong").inner_text() == "This link is incomplete"
    unknown = address.rsplit("/", 1)[0] + "/" + "A" * 43
    state = _open(page, f"{unknown}#k={other}")
    assert state["error"]["code"] == "not-found" and page.locator("#error strong").inner_text() == "No such share"


def test_browser_revoked_link_and_the_other_recipient_still_opens(world: dict[str, Any]) -> None:
    from printmanager_share import create_share, revoke

    page, lib, model = world["page"], world["lib"], world["model"]
    result = create_share(lib, f"model:{model.id}", to=[ANA, BO])
    links = {link.recipient: link.url for link in result.links}
    revoke(lib, result.share.id, recipient=BO)
    state = _open(page, links[BO])
    assert state["error"]["code"] == "revoked"
    assert page.locator("#error strong").inner_text() == "The sender revoked this share"
    assert _open(page, links[ANA])["state"] == "ready"
    revoke(lib, result.share.id)
    assert _open(page, links[ANA])["error"]["code"] == "revoked"


def test_browser_expired_and_used_up_links(world: dict[str, Any]) -> None:
    from printmanager_share import create_share

    page, lib, model, clock = world["page"], world["lib"], world["model"], world["clock"]
    [soon] = create_share(lib, f"model:{model.id}", to=[ANA], expires="1h").links
    assert _open(page, soon.url)["state"] == "ready"
    clock.offset = dt.timedelta(hours=2)
    try:
        state = _open(page, soon.url)
        assert state["error"]["code"] == "expired"
        assert page.locator("#error strong").inner_text() == "This share has expired"
    finally:
        clock.offset = dt.timedelta(0)
    [once] = create_share(lib, f"model:{model.id}", to=[ANA], max_opens=1).links
    assert _open(page, once.url)["state"] == "ready"
    state = _open(page, once.url)
    assert state["error"]["code"] == "exhausted"
    assert page.locator("#error strong").inner_text() == "This link has been used up"


def test_browser_password_share(world: dict[str, Any]) -> None:
    from printmanager_share import create_share

    page, lib, model = world["page"], world["lib"], world["model"]
    [link] = create_share(lib, f"model:{model.id}", to=[ANA], password=PASSWORD).links
    assert "#w=" in link.url and "#k=" not in link.url
    assert _open(page, link.url, until="password")["state"] == "password"
    page.fill("#password", "not the password")
    page.click("#password-form button")
    page.wait_for_function("() => window.pmShare.error && window.pmShare.error.code === 'wrong-password'", timeout=60000)
    assert page.locator("#error strong").inner_text() == "Wrong password"
    page.fill("#password", PASSWORD)
    page.click("#password-form button")
    page.wait_for_function("() => window.pmShare.state === 'ready'", timeout=60000)
    originals = _originals(lib, model)
    first = page.evaluate("window.pmShare.files[0]")
    with page.expect_download(timeout=60000) as info:
        page.click(f".file[data-n='{first['n']}'] button.download")
    assert Path(info.value.path()).read_bytes() == originals[first["name"]]


@pytest.fixture
def plain_moto(tmp_path: Path) -> Iterator[MotoS3]:
    """A second moto S3 server, in its own process, that does not check signatures: moto cannot check a
    presigned URL's query signature, so the gateway's default answer (307 to a presigned GET) is followed
    by a real browser here, CORS included."""
    import subprocess
    import sys
    import time

    import httpx

    from web_support import free_port

    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2, trust_env=False)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield MotoS3(f"http://127.0.0.1:{port}", "AKIDEXAMPLEPLAIN0000", "plain-moto-secret", port)
    finally:
        process.terminate()
        process.wait(10)


def test_browser_follows_the_redirect_to_a_presigned_get(world: dict[str, Any], plain_moto: MotoS3, corpus: Path,
                                                         tmp_path: Path) -> None:
    import httpx

    from printmanager_core import Library
    from printmanager_share import create_gateway_app, create_share, enable

    page = world["page"]
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", plain_moto.access_key_id)
    mp.setenv("AWS_SECRET_ACCESS_KEY", plain_moto.secret_access_key)
    prints = tmp_path / "Prints" / "Cargo"
    prints.mkdir(parents=True)
    stl = sorted((corpus / "Benchy multi-part").glob("*.stl"))[1]
    shutil.copy2(stl, prints / stl.name)
    config = {"backend": "s3", "endpoint": plain_moto.endpoint, "bucket": plain_moto.new_bucket(), "region": "us-east-1"}
    try:
        with Library(tmp_path / "library") as lib, running(create_gateway_app(config)) as base:
            lib.scan([tmp_path / "Prints"], workers=1)
            [model] = lib.models("")
            enable(lib, config, consent_given=True, gateway=base)
            [link] = create_share(lib, f"model:{model.id}", to=[ANA]).links
            token = link.url.split("/s/", 1)[1].split("#", 1)[0]
            answer = httpx.get(f"{base}/s/{token}/f/0", timeout=30, trust_env=False)
            assert answer.status_code == 307 and answer.headers["location"].startswith(plain_moto.endpoint)
            assert "X-Amz-Signature=" in answer.headers["location"]
            state = _open(page, link.url)
            assert state["state"] == "ready", state
            with page.expect_download(timeout=60000) as info:
                page.click(".file[data-n='0'] button.download")
            assert Path(info.value.path()).read_bytes() == stl.read_bytes()
    finally:
        mp.undo()


def test_browser_refuses_a_tampered_manifest_and_a_damaged_file(world: dict[str, Any]) -> None:
    """The host rewrites objects with the key from a link: a manifest whose signature fails shows nothing;
    a file whose bytes differ from the signed SHA-256 is reported and never saved."""
    import json

    import pyrage

    from printmanager_share import create_share

    page, lib, model, moto = world["page"], world["lib"], world["model"], world["moto"]
    result = create_share(lib, f"model:{model.id}", to=[ANA])
    [link] = result.links
    identity = pyrage.x25519.Identity.from_str(link.url.split("#k=", 1)[1])
    recipient = identity.to_public()
    sid = result.share.id
    with moto.client(world["config"]["bucket"]) as s3:
        original, _ = s3.get_object(f"shares/{sid}/manifest.age")
        envelope = json.loads(pyrage.decrypt(original, [identity]))
        envelope["manifest"] = envelope["manifest"].replace('"Benchy parts"', '"Benchy party"', 1)
        s3.put_object(f"shares/{sid}/manifest.age", pyrage.encrypt(json.dumps(envelope).encode(), [recipient]))
        state = _open(page, link.url)
        assert state["error"]["code"] == "bad-signature", state
        assert page.locator("#error strong").inner_text() == "The sender's signature does not match"
        assert page.locator("#files .file").count() == 0 and page.locator("#title").inner_text() == "Shared files"

        s3.put_object(f"shares/{sid}/manifest.age", original)
        s3.put_object(f"shares/{sid}/f/0.age", pyrage.encrypt(b"not the file you were promised", [recipient]))
        state = _open(page, link.url)
        assert state["state"] == "ready", state
        downloads: list[Any] = []
        page.on("download", lambda download: downloads.append(download))
        page.click(".file[data-n='0'] button.download")
        page.wait_for_function("() => window.pmShare.downloads[0] && window.pmShare.downloads[0] !== 'running'")
        assert page.evaluate("window.pmShare.downloads[0]") == "damaged"
        assert "The file is damaged" in page.locator(".file[data-n='0'] .state").inner_text()
        assert downloads == []
