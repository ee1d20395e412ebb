"""Share notices against a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS, AUTH, one message each.

The server's certificate is made here (cryptography), self-signed for 127.0.0.1;
the notifier trusts it only through ``--cafile``. The password lives in the real
vault (passphrase backend, cheap scrypt), never in the settings.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import ipaddress
import socket
import ssl
import sys
from pathlib import Path
from typing import Any, Iterator

import attrs
import pytest

from cli_support import run
from vault_support import passphrase_vault
from printmanager_core import hookimpl, plugins
from printmanager_share_notify import Delivery, ShareNotice, notifiers, send_notices, setup_smtp, turn_off_smtp
from printmanager_share_notify.smtp import PASSWORD_SECRET
from printmanager_vault import get_secret

USER, PASSWORD = "sharer", "smtp pass 42"
SENDER = "sharer@example.org"
RECIPIENTS = ("ana@example.org", "bo@example.net", "cy@example.com")


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real vault with a passphrase from the env (cheap real scrypt), no OS keyring."""
    with passphrase_vault(monkeypatch):
        yield


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "printmanager test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@attrs.define
class Received:
    """One message the server accepted, and how the session that sent it looked."""

    mail_from: str
    rcpt_tos: list[str]
    message: Any
    tls: bool
    login: str | None


@attrs.define
class SmtpServer:
    host: str
    port: int
    cafile: Path
    received: list[Received]
    logins: list[str]
    refuse: set[str]


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.server.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,
                                             session.ssl is not None, login))
        return "250 OK queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 that offers STARTTLS and requires it (and a login) before mail.

    ``@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)`` gives one with no TLS at all.
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    mode = getattr(request, "param", "starttls")
    cert, key = _certificate(tmp_path)
    server = SmtpServer("127.0.0.1", _free_port(), cert, [], [], set())

    def authenticator(smtp, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
            and auth_data.password == PASSWORD.encode()
        server.logins.append(f"{mechanism}:{'ok' if ok else 'refused'}")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)  # handled=False: 535 on failure

    options: dict[str, Any] = {}
    if mode == "starttls":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options = {"tls_context": context, "require_starttls": True, "auth_required": True, "auth_require_tls": True,
                   "authenticator": authenticator}
    controller = Controller(_Handler(server), hostname=server.host, port=server.port, ready_timeout=20, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def _configure(lib: Any, server: SmtpServer, **overrides: Any) -> None:
    options: dict[str, Any] = dict(host=server.host, port=server.port, user=USER, sender=SENDER, password=PASSWORD,
                                   cafile=str(server.cafile))
    options.update(overrides)
    setup_smtp(lib, **options)


def _notices() -> list[ShareNotice]:
    return [ShareNotice(address, f"https://gw.example.org/s/token-{i}-{address.split('@')[0]}#k=AGE-SECRET-KEY-1XYZ{i}",
                        sender="Sam Sharer", files=3, size=2_400_000, expires_at="2026-12-10T09:00:00+00:00",
                        max_opens=5)
            for i, address in enumerate(RECIPIENTS)]


def test_register_share_notifiers_builtin_smtp_and_a_plugins_notifier(library: Any) -> None:
    assert notifiers().entries["smtp"].plugin == "notify"
    sent: list[ShareNotice] = []

    class Pigeon:
        name = "pigeon"

        def configured(self, library: Any) -> bool:
            return True

        def send(self, library: Any, notices: Any) -> list[Delivery]:
            sent.extend(notices)
            return [Delivery(n.recipient, self.name, "sent") for n in notices]

    class PigeonPlugin:
        @hookimpl
        def register_share_notifiers(self, register):  # type: ignore[no-untyped-def]
            register(Pigeon())

    plugins.register_plugin(PigeonPlugin(), name="pigeon")
    try:
        assert notifiers().entries["pigeon"].plugin == "pigeon"
        deliveries = send_notices(library, _notices())  # smtp is not set up: only the pigeon sends
        assert [(d.recipient, d.notifier, d.status) for d in deliveries] == [(r, "pigeon", "sent") for r in RECIPIENTS]
        assert [n.recipient for n in sent] == list(RECIPIENTS)
    finally:
        plugins.unregister_plugin("pigeon")
    assert "pigeon" not in notifiers()


def test_one_message_per_recipient_each_with_its_own_link(library: Any, smtp_server: SmtpServer) -> None:
    _configure(library, smtp_server)
    notices = _notices()
    deliveries = send_notices(library, notices)
    assert [(d.recipient, d.notifier, d.status, d.error) for d in deliveries] == \
        [(r, "smtp", "sent", None) for r in RECIPIENTS]
    assert len(smtp_server.received) == len(RECIPIENTS)
    for notice, got in zip(notices, smtp_server.received):
        assert got.tls, "the message went over STARTTLS"
        assert got.login == USER
        assert got.mail_from == SENDER and got.rcpt_tos == [notice.recipient]
        assert got.message["To"] == notice.recipient and got.message["From"] == SENDER
        assert got.message["Subject"] == "Sam Sharer shared 3 files with you"
        body = got.message.get_content()
        assert notice.link in body
        others = [n.link for n in notices if n is not notice]
        assert not any(link in body for link in others) and not any(link.split("#")[0] in body for link in others)
        assert "2026-12-10 09:00 UTC" in body and "opened 5 times" in body and "2.4 MB" in body
    assert len(smtp_server.logins) == 1 and smtp_server.logins[0].endswith(":ok")  # one connection for all three


def test_no_message_without_configuration(library: Any, smtp_server: SmtpServer) -> None:
    assert send_notices(library, _notices()) == []
    # set up and then turned off: nothing either, and the password is gone from the vault
    _configure(library, smtp_server)
    assert get_secret(library, PASSWORD_SECRET) == PASSWORD
    assert turn_off_smtp(library) is True
    assert get_secret(library, PASSWORD_SECRET) is None
    assert send_notices(library, _notices()) == []
    assert smtp_server.received == [] and smtp_server.logins == []


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
def test_a_server_without_starttls_gets_nothing(library: Any, smtp_server: SmtpServer) -> None:
    _configure(library, smtp_server)
    deliveries = send_notices(library, _notices())
    assert {d.status for d in deliveries} == {"failed"} and len(deliveries) == len(RECIPIENTS)
    assert deliveries[0].error == f"the SMTP server 127.0.0.1:{smtp_server.port} offers no STARTTLS; nothing is sent in plaintext"
    assert smtp_server.received == []


def test_an_untrusted_certificate_sends_nothing(library: Any, smtp_server: SmtpServer) -> None:
    _configure(library, smtp_server, cafile="")  # the system's CAs only: the self-signed certificate is refused
    [first, *_] = send_notices(library, _notices())
    assert first.status == "failed" and "untrusted certificate" in (first.error or "") and "--cafile" in first.error
    assert smtp_server.received == [] and smtp_server.logins == []


def test_a_wrong_password_sends_nothing(library: Any, smtp_server: SmtpServer) -> None:
    _configure(library, smtp_server, password="not it")
    deliveries = send_notices(library, _notices())
    assert {d.status for d in deliveries} == {"failed"} and len(deliveries) == len(RECIPIENTS)
    assert deliveries[0].error == f"the SMTP server 127.0.0.1:{smtp_server.port} refused the login of 'sharer' (535)"
    assert smtp_server.received == [] and all(x.endswith(":refused") for x in smtp_server.logins)


def test_a_refused_recipient_fails_alone(library: Any, smtp_server: SmtpServer) -> None:
    _configure(library, smtp_server)
    smtp_server.refuse.add(RECIPIENTS[1])
    deliveries = send_notices(library, _notices())
    assert [d.status for d in deliveries] == ["sent", "failed", "sent"]
    assert deliveries[1].error == "refused: 550 5.1.1 no such mailbox here"
    assert [r.rcpt_tos for r in smtp_server.received] == [[RECIPIENTS[0]], [RECIPIENTS[2]]]


def test_notice_names_no_file_and_checks_the_address() -> None:
    notice = ShareNotice(" ana@example.org ", "https://gw/s/t#k=K", sender="Sam", files=1, password=True)
    assert notice.recipient == "ana@example.org"
    assert "1 file with you" in notice.text() and "password" in notice.text()
    for bad in ("ana", "ana@example.org\r\nBcc: eve@example.org", "a@b, c@d"):
        with pytest.raises(ValueError, match="not an email address"):
            ShareNotice(bad, "https://gw/s/t#k=K")


def test_cli_setup_status_off(library: Any, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    path = library.directory
    code, out, err = run(capsys, path, "share", "notify", "status", "--json")
    assert code == 0, err
    assert json.loads(out)["smtp"]["on"] is False and "smtp" in json.loads(out)["notifiers"]

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    code, out, err = run(capsys, path, "share", "notify", "setup", "--host", "127.0.0.1", "--port",
                         str(smtp_server.port), "--user", USER, "--from", SENDER, "--cafile", str(smtp_server.cafile),
                         "--name", "Sam  Sharer", "--password-stdin")
    assert code == 0, err
    assert library.settings.get("notify.sender_name") == "Sam Sharer" and library.settings.get("notify.smtp.cafile")
    assert out.strip() == f"share notices on: email from {SENDER} through 127.0.0.1:{smtp_server.port} (starttls) as {USER}"
    code, out, err = run(capsys, path, "share", "notify", "status", "--json")
    smtp = json.loads(out)["smtp"]
    assert smtp["on"] is True and smtp["password_stored"] is True and "password" not in json.dumps(library.settings.all())
    assert PASSWORD not in json.dumps(library.settings.all())
    assert [d.status for d in send_notices(library, _notices()[:1])] == ["sent"]
    assert smtp_server.received[0].message["From"] == SENDER

    code, out, err = run(capsys, path, "share", "notify", "setup", "--host", "127.0.0.1", "--from", "not-an-address")
    assert code == 1 and err.strip() == "Error: --from: not an email address: 'not-an-address'"
    code, out, err = run(capsys, path, "share", "notify", "off", "--json")
    assert code == 0 and json.loads(out)["password_deleted"] is True and json.loads(out)["smtp"]["on"] is False
    code, out, err = run(capsys, path, "share", "notify", "status")
    assert out.strip() == "share notices off: nothing is sent (printmanager share notify setup)"
    assert len(smtp_server.received) == 1


def test_share_created_sends_each_recipient_their_own_link(library: Any, smtp_server: SmtpServer, corpus: Path,
                                                          tmp_path: Path) -> None:
    """The share plugin's share_created hook: a real share of a model, one email per recipient."""
    import shutil

    from printmanager_share import create_share, enable

    prints = tmp_path / "Prints" / "Boat"
    prints.mkdir(parents=True)
    for stl in sorted((corpus / "Benchy multi-part").glob("*.stl"))[:2]:
        shutil.copy2(stl, prints / stl.name)
    library.scan([tmp_path / "Prints"], workers=1, thumbnails=False)
    [model] = library.models("")
    enable(library, {"backend": "folder", "path": str(tmp_path / "container")}, consent_given=True,
           gateway="https://share.example.org")
    # not set up: the share is made, nothing is sent
    create_share(library, f"model:{model.id}", to=list(RECIPIENTS[:2]))
    assert smtp_server.received == []

    _configure(library, smtp_server, name="Sam Sharer")
    result = create_share(library, f"model:{model.id}", to=list(RECIPIENTS), expires="7d", password="sail away")
    links = {link.recipient: link.url for link in result.links}
    assert len(set(links.values())) == len(RECIPIENTS)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(RECIPIENTS)
    for got in smtp_server.received:
        [address] = got.rcpt_tos
        body = got.message.get_content()
        assert links[address] in body
        assert not any(url in body for other, url in links.items() if other != address)
        assert got.message["Subject"] == "Sam Sharer shared 2 files with you"
        assert "sail away" not in body and "password" in body  # the password goes another way
        for name in (f.name for f in library.files("", limit=None) if f.model_id == model.id):
            assert name not in body and name not in got.message["Subject"]
