"""The outbox's senders and the job that sends: a real SMTP server (aiosmtpd) on a
free loopback port, retries with backoff then dead, several runners at once, a
crash between claim and mark, the console senders and their secrets, Twilio."""

import email
import email.policy
import logging
import sys
import threading
import types
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from bson import ObjectId

from app import StartupError, create_app
from app.config import TestConfig
from app.controllers.jobs import context as job_context
from app.core import jobs
from app.core import notifications as outbox
from app.core.notification_sending import Outgoing, SendPolicy, send_due
from app.db import get_db, memory_client
from app.models import utc_now
from app.models.notification import NotificationModel
from app.senders import (
    ConsoleEmailSender,
    ConsoleSmsSender,
    SmtpEmailSender,
    TwilioSmsSender,
    build_email,
    build_senders,
)
from tests import faults
from tests.helpers import free_port

MAIL_FROM = "Bank <bank@example.org>"


class Inbox:
    """An aiosmtpd handler: keeps what arrives, or refuses it with ``refuse``."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.arrived: list = []
        self.tried = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd
        with self._lock:
            self.tried += 1
            if self.refuse:
                return self.refuse
            self.arrived.append(envelope)
        return "250 OK"

    def messages(self) -> list:
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)
            for e in self.arrived
        ]


@pytest.fixture
def smtp_server():
    """Start an SMTP server on a free loopback port; yield (inbox, port)."""
    started = []

    def start(refuse: str | None = None):
        inbox = Inbox(refuse)
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return inbox, port

    yield start
    for controller in started:
        controller.stop()


def use_smtp(app, port: int, attempts: int = 8) -> None:
    app.config.update(
        EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port,
        SMTP_STARTTLS=False, MAIL_FROM=MAIL_FROM, NOTIFY_MAX_ATTEMPTS=attempts,
        NOTIFY_RETRY_SECONDS=60,
    )  # fmt: skip
    app.extensions.pop("notification_senders", None)


def customer_with_email(app, customer, address="carol@example.org") -> dict:
    with app.app_context():
        users = get_db()["users"]
        users.update_one(
            {"_id": ObjectId(customer["user"]["id"])}, {"$set": {"email": address}}
        )
        return users.find_one({"_id": ObjectId(customer["user"]["id"])})


def queue_emails(app, user, count: int, **kwargs) -> None:
    with app.app_context():
        for n in range(count):
            outbox.queue(user, "test_event", f"k{n}", f"Subject {n}", f"Body {n}",
                         channels=("email",), **kwargs)  # fmt: skip


def run_job(app, now=None):
    with app.app_context():
        return jobs.run_job("notifications", job_context(now))


def emails(app) -> list[dict]:
    with app.app_context():
        return list(get_db()["notifications"].find({"channel": "email"}))


# -- SMTP ---------------------------------------------------------------------


def test_an_email_arrives_over_smtp_with_the_right_headers(app, customer,
                                                           smtp_server):  # fmt: skip
    inbox, port = smtp_server()
    use_smtp(app, port)
    user = customer_with_email(app, customer)
    queue_emails(app, user, 1)
    outcome = run_job(app)
    assert (outcome.done, outcome.failed) == (1, 0)
    [envelope] = inbox.arrived
    assert envelope.mail_from == "bank@example.org"
    assert envelope.rcpt_tos == ["carol@example.org"]
    [message] = inbox.messages()
    [stored] = emails(app)
    assert message["From"] == MAIL_FROM
    assert message["To"] == "carol@example.org"
    assert message["Subject"] == "Subject 0"
    assert message["Message-ID"] == f"<{stored['_id']}@example.org>"
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Body 0"
    assert stored["status"] == "sent" and stored["attempts"] == 1
    assert stored["sent_at"] is not None


def test_an_outside_email_carries_its_attachments(app, smtp_server):
    inbox, port = smtp_server()
    use_smtp(app, port)
    pdf = b"%PDF-1.4 not really a pdf \x00\xff"
    with app.app_context():
        queued = outbox.queue_email(
            "board@example.org", "report:2026-11", "Monthly report", "Attached.",
            attachments=[("report.pdf", "application/pdf", pdf)],
        )  # fmt: skip
        again = outbox.queue_email("board@example.org", "report:2026-11", "x", "y")
    assert (queued, again) == (1, 0)
    run_job(app)
    [message] = inbox.messages()
    assert message["To"] == "board@example.org"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True) == pdf


@pytest.mark.parametrize("server", ["refusing", "unreachable"])
def test_a_failing_server_means_retries_with_backoff_then_dead(
    app, customer, smtp_server, server
):
    if server == "refusing":
        inbox, port = smtp_server(refuse="550 Mailbox unavailable")
    else:
        inbox, port = None, free_port()  # nothing listens there
    use_smtp(app, port, attempts=3)
    user = customer_with_email(app, customer)
    queue_emails(app, user, 1, secret=True)
    start = utc_now() + timedelta(days=1)

    assert run_job(app, start).failed == 1
    [first] = emails(app)
    assert first["status"] == "pending" and first["attempts"] == 1
    assert first["next_attempt_at"] == start + timedelta(seconds=60)
    expected = "SMTPDataError" if server == "refusing" else "ConnectionRefusedError"
    assert expected in first["last_error"]
    # Not due before its time.
    assert run_job(app, start + timedelta(seconds=59)).failed == 0
    second_at = start + timedelta(seconds=60)
    assert run_job(app, second_at).failed == 1
    [second] = emails(app)
    assert second["attempts"] == 2
    assert second["next_attempt_at"] == second_at + timedelta(seconds=120)
    third_at = second_at + timedelta(seconds=120)
    assert run_job(app, third_at).failed == 1
    [dead] = emails(app)
    assert dead["status"] == "dead" and dead["attempts"] == 3
    assert dead["body"] is None  # a secret leaves the outbox with its last try
    assert run_job(app, third_at + timedelta(days=1)).failed == 0
    if inbox is not None:
        assert inbox.tried == 3 and inbox.arrived == []


def test_two_runners_at_once_send_each_email_exactly_once(
    app, customer, smtp_server, fast_switching
):
    inbox, port = smtp_server()
    use_smtp(app, port)
    user = customer_with_email(app, customer)
    queue_emails(app, user, 30)
    barrier = threading.Barrier(3)
    outcomes, errors = [], []

    def runner():
        try:
            with app.app_context():
                barrier.wait()
                outcomes.append(jobs.run_job("notifications", job_context()))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = [message["Message-ID"] for message in inbox.messages()]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert sum(outcome.done for outcome in outcomes) == 30
    assert {m["status"] for m in emails(app)} == {"sent"}


def test_many_runners_at_once_give_each_message_to_one_sender(
    app, customer, fast_switching
):
    class Counting:
        def __init__(self) -> None:
            self.ids: list[str] = []
            self.lock = threading.Lock()

        def send(self, message: Outgoing) -> None:
            with self.lock:
                self.ids.append(message.id)

    counting = Counting()
    user = customer_with_email(app, customer)
    queue_emails(app, user, 120)
    policy = SendPolicy(max_attempts=3, retry=timedelta(seconds=60))
    barrier = threading.Barrier(6)

    def runner():
        with app.app_context():
            barrier.wait()
            send_due({"email": counting}, policy)

    threads = [threading.Thread(target=runner) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counting.ids) == 120 and len(set(counting.ids)) == 120


def test_a_crash_between_claim_and_send_is_picked_up_after_the_lease(
    app, customer, smtp_server
):
    inbox, port = smtp_server()
    use_smtp(app, port)
    user = customer_with_email(app, customer)
    queue_emails(app, user, 1)
    faulty = faults.install(app, crash_after=1)  # the claim, then the process dies
    with pytest.raises(faults.Crash), app.app_context():
        send_due(
            {"email": _smtp(port)},
            SendPolicy(max_attempts=8, retry=timedelta(seconds=60)),
        )
    faults.uninstall(app, faulty)
    assert faulty.writes == [("notifications", "find_one_and_update")]
    [claimed] = emails(app)
    assert claimed["status"] == "sending" and inbox.arrived == []
    # Another runner before the lease ends leaves it alone ...
    assert run_job(app).done == 0
    assert inbox.arrived == []
    # ... and sends it once the lease is over.
    after = claimed["lease_until"] + timedelta(seconds=1)
    assert run_job(app, after).done == 1
    assert len(inbox.arrived) == 1
    [sent] = emails(app)
    assert sent["status"] == "sent" and sent["attempts"] == 2


def test_a_crash_after_the_server_accepted_repeats_with_the_same_message_id(
    app, customer, smtp_server
):
    """The one at-least-once point: accepted by the server, not yet marked sent.
    The repeat carries the same Message-ID, by which receivers drop it."""
    inbox, port = smtp_server()
    user = customer_with_email(app, customer)
    queue_emails(app, user, 1)

    class DiesAfterSending:
        def send(self, message):
            _smtp(port).send(message)
            raise faults.Crash("the process died after the server accepted")

    policy = SendPolicy(max_attempts=8, retry=timedelta(seconds=60))
    with pytest.raises(faults.Crash), app.app_context():
        send_due({"email": DiesAfterSending()}, policy)
    [claimed] = emails(app)
    assert claimed["status"] == "sending"
    with app.app_context():
        later = claimed["lease_until"] + timedelta(seconds=1)
        assert send_due({"email": _smtp(port)}, policy, later).sent == 1
    first, second = inbox.messages()
    assert (
        first["Message-ID"]
        == second["Message-ID"]
        == (f"<{claimed['_id']}@example.org>")
    )


def test_a_runner_whose_lease_ran_out_cannot_settle_over_the_new_claim(app, customer):
    user = customer_with_email(app, customer)
    queue_emails(app, user, 1)
    lease = timedelta(minutes=5)
    with app.app_context():
        model = NotificationModel()
        now = utc_now()
        late, fresh = ObjectId(), ObjectId()
        stalled = model.claim_due(now, lease, late)
        assert model.claim_due(now, lease, fresh) is None  # held
        taken = model.claim_due(now + lease, lease, fresh)
        assert taken["_id"] == stalled["_id"]
        assert model.mark_failed(stalled, late, "timeout", now + lease) is False
        assert model.mark_sent(stalled, late, now) is False
        assert model.find(taken["_id"])["claim"] == fresh
        assert model.mark_sent(taken, fresh, now + lease) is True
        assert model.mark_sent(taken, fresh, now + lease) is False  # once
        assert model.find(taken["_id"])["status"] == "sent"


def test_a_sent_secret_is_wiped_from_the_outbox(app, customer):
    user = customer_with_email(app, customer)
    queue_emails(app, user, 1, secret=True)
    assert run_job(app).done == 1
    [sent] = emails(app)
    assert sent["status"] == "sent" and sent["body"] is None


def _smtp(port: int) -> SmtpEmailSender:
    return SmtpEmailSender(host="127.0.0.1", port=port, mail_from=MAIL_FROM,
                           starttls=False)  # fmt: skip


def test_the_message_id_depends_on_the_message_id_only():
    message = Outgoing(id="6b1000000000000000000001", channel="email",
                       address="a@example.org", subject="S", body="B")  # fmt: skip
    first, second = build_email(message, MAIL_FROM), build_email(message, MAIL_FROM)
    assert (
        first["Message-ID"]
        == second["Message-ID"]
        == ("<6b1000000000000000000001@example.org>")
    )


# -- console senders and secrets ----------------------------------------------------


def secret_message(channel="email", address="carol@example.org") -> Outgoing:
    return Outgoing(id="6b1000000000000000000002", channel=channel, address=address,
                    subject="Your reset code", body="Your code is 48213507.",
                    secret=True)  # fmt: skip


def test_the_console_sender_logs_a_message(caplog):
    caplog.set_level(logging.INFO, logger="app.senders")
    ConsoleEmailSender().send(Outgoing(
        id="6b1000000000000000000003", channel="email", address="carol@example.org",
        subject="Money received", body="5.00 USD arrived."))  # fmt: skip
    ConsoleSmsSender().send(Outgoing(
        id="6b1000000000000000000004", channel="sms", address="+15551234567",
        subject="Money received", body="5.00 USD arrived."))  # fmt: skip
    assert "c***@example.org: Money received\n5.00 USD arrived." in caplog.text
    assert "sms to ***4567: Money received: 5.00 USD arrived." in caplog.text
    assert "carol@example.org" not in caplog.text


@pytest.mark.parametrize("sender", [ConsoleEmailSender, ConsoleSmsSender])
def test_a_code_never_reaches_the_log(caplog, capsys, sender):
    caplog.set_level(logging.DEBUG)
    address = "+15551234567" if sender is ConsoleSmsSender else "carol@example.org"
    sender().send(secret_message(address=address))
    assert "48213507" not in caplog.text
    assert "a one-time code was sent" in caplog.text
    assert "48213507" not in capsys.readouterr().out


def test_in_development_the_console_prints_the_code_to_stdout_only(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    ConsoleEmailSender(echo_secrets=True).send(secret_message())
    out = capsys.readouterr().out
    assert "DEVELOPMENT ONLY" in out and "48213507" in out
    assert "48213507" not in caplog.text


def test_the_job_never_logs_a_code(app, customer, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    user = customer_with_email(app, customer)
    with app.app_context():
        outbox.queue(user, "password_reset_code", "reset:1", "Your reset code",
                     "Your code is 48213507.", channels=("email",), security=True,
                     secret=True)  # fmt: skip
    assert run_job(app).done == 1
    assert "48213507" not in caplog.text
    assert "48213507" not in capsys.readouterr().out  # the suite is not development


@pytest.mark.parametrize("settings, echo", [
    ({"APP_ENV": "development", "EMAIL_BACKEND": "console"}, True),
    ({"APP_ENV": "development", "EMAIL_BACKEND": "console", "TESTING": True}, False),
    ({"APP_ENV": "production", "EMAIL_BACKEND": "console"}, False),
])  # fmt: skip
def test_only_development_with_console_mail_echoes_codes(settings, echo):
    built = build_senders({"SMS_BACKEND": "console", **settings})
    assert built["email"].echo_secrets is echo
    assert built["sms"].echo_secrets is echo


def test_smtp_is_chosen_by_the_settings():
    built = build_senders({
        "EMAIL_BACKEND": "smtp", "SMTP_HOST": "mail.example.org", "SMTP_PORT": 2525,
        "MAIL_FROM": MAIL_FROM, "SMTP_USERNAME": "bank", "SMTP_PASSWORD": "pw",
        "SMTP_STARTTLS": True, "SMS_BACKEND": "console",
    })  # fmt: skip
    sender = built["email"]
    assert isinstance(sender, SmtpEmailSender)
    assert (sender.host, sender.port, sender.starttls) == ("mail.example.org", 2525,
                                                          True)  # fmt: skip


# -- Twilio -----------------------------------------------------------------------


class TwilioConfig(TestConfig):
    SMS_BACKEND = "twilio"


def test_twilio_without_its_package_stops_start_up_with_one_line():
    assert "twilio" not in sys.modules
    with pytest.raises(StartupError) as refused:
        create_app(TwilioConfig, mongo_client=memory_client())
    assert str(refused.value) == (
        "SMS_BACKEND=twilio needs the twilio package, which is not installed: "
        "pip install twilio, or use SMS_BACKEND=console"
    )


def test_twilio_installed_needs_its_credentials(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "twilio" else real(name, *a),
    )
    with pytest.raises(StartupError) as refused:
        create_app(TwilioConfig, mongo_client=memory_client())
    assert str(refused.value) == (
        "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, SMS_FROM"
    )


def test_half_given_smtp_credentials_stop_start_up():
    class Half(TestConfig):
        SMTP_USERNAME = "bank"

    with pytest.raises(StartupError) as refused:
        create_app(Half, mongo_client=memory_client())
    assert str(refused.value) == "set both SMTP_USERNAME and SMTP_PASSWORD, or neither"


def test_the_twilio_sender_imports_twilio_when_it_first_sends(monkeypatch):
    created = []

    class Client:
        def __init__(self, sid, token):
            self.messages = types.SimpleNamespace(
                create=lambda **kwargs: created.append((sid, token, kwargs))
            )

    rest = types.ModuleType("twilio.rest")
    rest.Client = Client
    monkeypatch.setitem(sys.modules, "twilio", types.ModuleType("twilio"))
    monkeypatch.setitem(sys.modules, "twilio.rest", rest)
    sender = TwilioSmsSender(account_sid="AC" + "0" * 32, auth_token="token",
                             from_number="+15550000000")  # fmt: skip
    sender.send(
        Outgoing(
            id="x",
            channel="sms",
            address="+15551234567",
            subject="Money received",
            body="5.00 USD arrived.",
        )
    )
    assert created == [("AC" + "0" * 32, "token", {
        "to": "+15551234567", "from_": "+15550000000",
        "body": "Money received: 5.00 USD arrived.",
    })]  # fmt: skip
