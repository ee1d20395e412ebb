"""The built-in SMTP notifier: stdlib ``smtplib``, always TLS, credentials in the vault.

Off until the user sets it up (:func:`setup`, ``printmanager share notify setup``):
the server, port, user and sender are settings (``notify.smtp.*``), the
password is the vault secret ``notify.smtp.password``. It never speaks
plaintext: ``starttls`` (the default, port 587) upgrades the connection before
logging in and fails if the server does not offer STARTTLS; ``tls`` (port 465)
is TLS from the first byte. Certificates are checked against the system's CAs,
or the file ``notify.smtp.cafile`` names (a self-hosted server's).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Sequence

import attrs

from printmanager_core.errors import UsageError
from printmanager_core.settings import Setting

from .errors import NoticeError, NotConfigured
from .notice import Delivery, ShareNotice

if TYPE_CHECKING:  # pragma: no cover
    import smtplib
    import ssl
    from email.message import EmailMessage

    from printmanager_core.library import Library

PREFIX = "notify.smtp."
#: the vault secret holding the SMTP password
PASSWORD_SECRET = "notify.smtp.password"
SECURITY = ("starttls", "tls")
TIMEOUT = 30.0


def _security(value: Any) -> None:
    if value not in SECURITY:
        raise UsageError(f"notify.smtp.security takes starttls or tls, not {value!r}")


def _port(value: Any) -> None:
    if not 0 < value < 65536:
        raise UsageError(f"notify.smtp.port takes a TCP port (1-65535), not {value!r}")


#: the settings this notifier owns
SETTINGS = (
    Setting("notify.sender_name", "", "your name as share notices give it (default: the From address)"),
    Setting(PREFIX + "enabled", False, "send share notices by email (set by `share notify setup`)"),
    Setting(PREFIX + "host", "", "SMTP server for share notices"),
    Setting(PREFIX + "port", 587, "SMTP port (587 STARTTLS, 465 TLS)", check=_port),
    Setting(PREFIX + "security", "starttls", "starttls or tls; never plaintext", check=_security),
    Setting(PREFIX + "user", "", "SMTP login (the password is in the vault)"),
    Setting(PREFIX + "from", "", "the From address of share notices"),
    Setting(PREFIX + "cafile", "", "extra CA certificates (PEM) to trust for the SMTP server"),
)


@attrs.frozen
class SmtpConfig:
    """Where and how to send; never the password (that stays in the vault)."""

    host: str
    port: int = 587
    security: str = attrs.field(default="starttls", validator=attrs.validators.in_(SECURITY))
    user: str = ""
    sender: str = ""
    cafile: str = ""

    @classmethod
    def of(cls, library: "Library") -> "SmtpConfig":
        """The configuration stored in ``library``'s settings."""
        get = library.settings.get
        return cls(host=get(PREFIX + "host"), port=get(PREFIX + "port"), security=get(PREFIX + "security"),
                   user=get(PREFIX + "user"), sender=get(PREFIX + "from"), cafile=get(PREFIX + "cafile"))

    def as_json(self) -> dict[str, Any]:
        """A JSON-safe dict (no secret in it)."""
        return attrs.asdict(self)


def is_configured(library: "Library") -> bool:
    """True when the user set up SMTP notices for ``library`` (and did not turn them off)."""
    get = library.settings.get
    return bool(get(PREFIX + "enabled") and get(PREFIX + "host") and get(PREFIX + "from"))


def setup(library: "Library", *, host: str, port: int = 587, user: str = "", sender: str,
          password: str | None = None, security: str = "starttls", cafile: str = "",
          name: str | None = None) -> SmtpConfig:
    """Set up (or change) the SMTP notifier and switch it on.

    :param name: your name as the notices give it (``notify.sender_name``); None keeps it.
    :param password: stored in the vault as ``notify.smtp.password``; None keeps
        the stored one (a server that needs no login needs none).
    :raises UsageError: a value that cannot work (no host, a sender that is no address,
        a user without any password).
    """
    from .notice import _address

    if not host.strip():
        raise UsageError("share notify setup needs --host (the SMTP server)")
    try:
        sender = _address(sender)
    except ValueError as exc:
        raise UsageError(f"--from: {exc}") from None
    _security(security)
    _port(port)
    if cafile:
        from pathlib import Path

        path = Path(cafile).expanduser()
        if not path.is_file():
            raise UsageError(f"--cafile: no such file {cafile}")
        cafile = str(path.resolve())
    if password is not None:
        from printmanager_vault import set_secret

        set_secret(library, PASSWORD_SECRET, password)
    elif user and _password(library) is None:
        raise UsageError(f"SMTP user {user!r} needs a password (none is stored in the vault)")
    values = {"host": host.strip(), "port": port, "security": security, "user": user, "from": sender, "cafile": cafile}
    for key, value in values.items():
        library.settings.set(PREFIX + key, value)
    if name is not None:
        library.settings.set("notify.sender_name", " ".join(name.split()))
    library.settings.set(PREFIX + "enabled", True)
    return SmtpConfig.of(library)


def turn_off(library: "Library", *, forget: bool = True) -> bool:
    """Stop sending notices by email; with ``forget`` also delete the password from the vault.

    :returns: True if a stored password was deleted.
    """
    library.settings.set(PREFIX + "enabled", False)
    if not forget:
        return False
    from printmanager_vault import VaultError, delete_secret

    try:
        return delete_secret(library, PASSWORD_SECRET)
    except VaultError:
        return False


def _password(library: "Library") -> str | None:
    from printmanager_vault import get_secret

    return get_secret(library, PASSWORD_SECRET)


def message(notice: ShareNotice, sender: str) -> "EmailMessage":
    """The email for one notice (plain text; the link is the recipient's own)."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = notice.recipient
    msg["Subject"] = notice.subject()
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(notice.text())
    return msg


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    import ssl  # on sending, not when the plugin's settings are registered (every command)

    context = ssl.create_default_context()
    if config.cafile:
        context.load_verify_locations(cafile=config.cafile)
    return context


def connect(config: SmtpConfig, password: str | None, timeout: float = TIMEOUT) -> "smtplib.SMTP":
    """An SMTP connection, encrypted (STARTTLS or TLS) and logged in when there is a user.

    :raises NoticeError: the server cannot be reached, offers no STARTTLS, its
        certificate is not trusted, or the login is refused (one line each).
    """
    import smtplib
    import ssl

    where = f"{config.host}:{config.port}"
    context = _tls_context(config)
    try:
        if config.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=timeout)
        try:
            client.ehlo()
            if config.security == "starttls":
                if not client.has_extn("starttls"):
                    raise NoticeError(f"the SMTP server {where} offers no STARTTLS; nothing is sent in plaintext")
                client.starttls(context=context)
                client.ehlo()
            if config.user:
                if password is None:
                    raise NoticeError(f"no SMTP password in the vault for {config.user!r} "
                                      "(run `printmanager share notify setup` again)")
                client.login(config.user, password)
        except BaseException:
            client.close()
            raise
    except NoticeError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise NoticeError(f"the SMTP server {where} has an untrusted certificate ({exc.verify_message}); "
                          "give its CA with --cafile") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise NoticeError(f"the SMTP server {where} refused the login of {config.user!r} ({exc.smtp_code})") from None
    except (smtplib.SMTPException, ssl.SSLError, socket.timeout, OSError) as exc:
        raise NoticeError(f"cannot send through the SMTP server {where}: {_reason(exc)}") from None
    return client


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


class SmtpNotifier:
    """Sends each notice as one email, over one TLS connection per batch."""

    name = "smtp"
    description = "email through your SMTP server (STARTTLS or TLS; password in the vault)"

    def configured(self, library: "Library") -> bool:
        """True when ``share notify setup`` was run and not turned off."""
        return is_configured(library)

    def send(self, library: "Library", notices: Sequence[ShareNotice]) -> list[Delivery]:
        """One message per notice; a recipient the server refuses fails alone."""
        import smtplib

        if not notices:
            return []
        if not self.configured(library):
            raise NotConfigured("SMTP notices are not set up (printmanager share notify setup)")
        config = SmtpConfig.of(library)
        password = _password(library) if config.user else None
        try:
            client = connect(config, password)
        except NoticeError as exc:
            return [Delivery(n.recipient, self.name, "failed", str(exc)) for n in notices]
        deliveries = []
        try:
            for notice in notices:
                try:
                    refused = client.send_message(message(notice, config.sender))
                except smtplib.SMTPRecipientsRefused as exc:
                    refused = exc.recipients
                except (smtplib.SMTPException, OSError) as exc:
                    deliveries.append(Delivery(notice.recipient, self.name, "failed", _reason(exc)))
                    if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
                        break
                    continue
                if refused:
                    code, text = next(iter(refused.values()))
                    reason = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
                    deliveries.append(Delivery(notice.recipient, self.name, "failed", f"refused: {code} {reason}"))
                else:
                    deliveries.append(Delivery(notice.recipient, self.name, "sent"))
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
        deliveries += [Delivery(n.recipient, self.name, "failed", "the connection closed before it was sent")
                       for n in notices[len(deliveries):]]
        return deliveries
