"""The notification channels' senders: console, SMTP and Twilio, chosen by settings.

Each sender has one method, ``send(message)``, that delivers an
:class:`app.core.notification_sending.Outgoing` or raises; the outbox's job
(``app.core.notification_sending``) claims, retries and settles. A message
whose body is a one-time code (``secret``) is never written to the log: the
console senders log only that a code went to a masked address. In development
with ``EMAIL_BACKEND=console`` (``make run``), the console senders also print
such a message, code included, to the terminal's standard output, so that a
developer can follow the password reset flow; never to the log stream, never
in production or the test suite.
"""

import importlib
import importlib.util
import logging
import smtplib
import ssl
import sys
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from app.config import ConfigError
from app.core.notification_sending import Outgoing, Sender

log = logging.getLogger("app.senders")

# Seconds an SMTP connection or command may take before the attempt fails.
SMTP_TIMEOUT = 30


def mask(address: str) -> str:
    """Show an address without giving it away: ``j***@example.org``, ``***4567``."""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{address[-4:]}"


class ConsoleEmailSender:
    """Log each email instead of sending it (the development default)."""

    def __init__(self, *, echo_secrets: bool = False) -> None:
        self.echo_secrets = echo_secrets

    def send(self, message: Outgoing) -> None:
        if message.secret:
            log.info("email to %s: a one-time code was sent", mask(message.address))
            _echo(message, self.echo_secrets)
            return
        names = [name for name, _, _ in message.attachments]
        log.info(
            "email to %s: %s\n%s%s",
            mask(message.address), message.subject, message.body,
            f"\n[attachments: {', '.join(names)}]" if names else "",
        )  # fmt: skip


class ConsoleSmsSender:
    """Log each text message instead of sending it (the development default)."""

    def __init__(self, *, echo_secrets: bool = False) -> None:
        self.echo_secrets = echo_secrets

    def send(self, message: Outgoing) -> None:
        if message.secret:
            log.info("sms to %s: a one-time code was sent", mask(message.address))
            _echo(message, self.echo_secrets)
            return
        log.info("sms to %s: %s", mask(message.address), sms_text(message))


def _echo(message: Outgoing, enabled: bool) -> None:
    """Print a code's message to stdout (development with console mail only)."""
    if enabled:
        print(  # noqa: T201 - the developer's terminal, on purpose, never the log
            f"\n=== DEVELOPMENT ONLY (EMAIL_BACKEND=console): {message.channel} "
            f"to {message.address} ===\n{message.subject}\n{message.body}\n"
            "=== end ===",
            file=sys.stdout,
            flush=True,
        )


def sms_text(message: Outgoing) -> str:
    """A text message's one text: the subject, then the body."""
    return f"{message.subject}: {message.body}"


class SmtpEmailSender:
    """Send each email over SMTP (smtplib), one connection per message."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        mail_from: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: int = SMTP_TIMEOUT,
    ) -> None:
        self.host, self.port, self.mail_from = host, port, mail_from
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: Outgoing) -> None:
        email = build_email(message, self.mail_from)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(email)


def build_email(message: Outgoing, mail_from: str) -> EmailMessage:
    """The email of an outbox message; its Message-ID is fixed by the message id,
    so a repeat after a crash (see app.core.notification_sending) is the same."""
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = f"<{message.id}@{domain}>"
    email.set_content(message.body)
    for filename, mime_type, content in message.attachments:
        maintype, _, subtype = mime_type.partition("/")
        email.add_attachment(
            content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=filename,
        )
    return email


class TwilioSmsSender:
    """Send each text message through Twilio's REST API (the ``twilio`` package,
    imported when the first message is sent; start-up checks it is installed)."""

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.from_number = from_number
        self._client: Any = None

    def send(self, message: Outgoing) -> None:
        if self._client is None:
            rest = importlib.import_module("twilio.rest")
            self._client = rest.Client(self.account_sid, self.auth_token)
        self._client.messages.create(
            to=message.address, from_=self.from_number, body=sms_text(message)
        )


def check_senders(config: Mapping[str, Any]) -> None:
    """Refuse at start-up a channel that cannot work as configured.

    :raises ConfigError: twilio is chosen but not installed or not configured,
        or SMTP credentials are half given.
    """
    if bool(config.get("SMTP_USERNAME")) != bool(config.get("SMTP_PASSWORD")):
        raise ConfigError("set both SMTP_USERNAME and SMTP_PASSWORD, or neither")
    if config.get("SMS_BACKEND") == "twilio":
        if importlib.util.find_spec("twilio") is None:
            raise ConfigError(
                "SMS_BACKEND=twilio needs the twilio package, which is not "
                "installed: pip install twilio, or use SMS_BACKEND=console"
            )
        missing = [
            name
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMS_FROM")
            if not config.get(name)
        ]
        if missing:
            raise ConfigError(f"SMS_BACKEND=twilio needs {', '.join(missing)}")


def build_senders(config: Mapping[str, Any]) -> dict[str, Sender]:
    """The sender of each channel, as the settings choose them."""
    echo = (
        config.get("APP_ENV") == "development"
        and config.get("EMAIL_BACKEND") == "console"
        and not config.get("TESTING")
    )
    senders: dict[str, Sender] = {}
    if config.get("EMAIL_BACKEND") == "smtp":
        senders["email"] = SmtpEmailSender(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            mail_from=config["MAIL_FROM"],
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            starttls=config["SMTP_STARTTLS"],
        )
    else:
        senders["email"] = ConsoleEmailSender(echo_secrets=echo)
    if config.get("SMS_BACKEND") == "twilio":
        senders["sms"] = TwilioSmsSender(
            account_sid=config["TWILIO_ACCOUNT_SID"],
            auth_token=config["TWILIO_AUTH_TOKEN"],
            from_number=config["SMS_FROM"],
        )
    else:
        senders["sms"] = ConsoleSmsSender(echo_secrets=echo)
    return senders
