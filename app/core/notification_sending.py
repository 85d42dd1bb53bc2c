"""Sending the outbox: claim a due message, hand it to its channel's sender, settle.

Run by the job runner (the ``notifications`` job), never by a request. Each
message is claimed by one guarded update that gives it a fresh claim token and
a lease (``NotificationModel.claim_due``), so of several runners at once exactly
one sends it; only the holder of the current claim can settle it, so a runner
whose lease ran out (it stalled, and another runner claimed the message again)
cannot overwrite the other's outcome. A failed send is retried after
``retry * 2 ** (attempt - 1)`` (at most MAX_BACKOFF), and after
``max_attempts`` the message is ``dead`` (kept, with its last error, for a
banker to see; a secret's body is wiped as when sent).

Exactly once holds for every step but one: a runner that dies after the mail
server accepted a message and before marking it sent leaves it ``sending``;
its lease runs out and another runner sends it again. That window cannot be
closed from this side (the server's acceptance and our write are two systems),
so the email carries a Message-ID made from the message's id, the same on
every attempt, by which receivers and mail stores recognise the repeat.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bson import ObjectId

from app.models import utc_now
from app.models.notification import NotificationModel

log = logging.getLogger("app.notifications")

# How long a claim lasts: far beyond a send's own timeouts (SMTP_TIMEOUT in
# app/senders.py), so a live runner never loses its claim mid-send.
SEND_LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
# At most this many messages per run; the next run goes on.
BATCH = 1000


@dataclass(frozen=True)
class Outgoing:
    """One message as a sender sees it."""

    id: str  # the outbox id: the same on every attempt (an email's Message-ID)
    channel: str  # email | sms
    address: str
    subject: str
    body: str
    secret: bool = False  # the body is a one-time code: never log it
    attachments: tuple[tuple[str, str, bytes], ...] = ()


class Sender(Protocol):
    """A channel's way out (app/senders.py): console, SMTP, Twilio."""

    def send(self, message: Outgoing) -> None:
        """Deliver ``message`` or raise (any exception is a failed attempt)."""


@dataclass(frozen=True)
class SendPolicy:
    """How often and how soon a failed send is tried again."""

    max_attempts: int  # NOTIFY_MAX_ATTEMPTS
    retry: timedelta  # NOTIFY_RETRY_SECONDS: the first wait
    lease: timedelta = SEND_LEASE


@dataclass(frozen=True)
class Sent:
    """What a run of the sender did."""

    sent: int
    failed: int  # attempts that failed (to be retried, or dead)


def backoff(policy: SendPolicy, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling, capped."""
    return min(policy.retry * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def send_due(
    senders: Mapping[str, Sender],
    policy: SendPolicy,
    now: datetime | None = None,
    limit: int = BATCH,
) -> Sent:
    """Send every message due at ``now`` (default: the clock), once each.

    A run reads the clock for each claim (a lease starts when its message is
    claimed, not when the run began); ``now``, when given and later, wins, so
    a test can run the sender in the future.
    """
    model = NotificationModel()
    sent = failed = 0
    for _ in range(limit):
        moment = max(now, utc_now()) if now is not None else utc_now()
        claim = ObjectId()
        message = model.claim_due(moment, policy.lease, claim)
        if message is None:
            break
        if _attempt(model, senders, policy, message, claim, moment):
            sent += 1
        else:
            failed += 1
    return Sent(sent=sent, failed=failed)


def due_count(now: datetime) -> int:
    """How many messages are due to send at ``now``."""
    return NotificationModel().due_count(now)


def _attempt(
    model: NotificationModel,
    senders: Mapping[str, Sender],
    policy: SendPolicy,
    message: dict,
    claim: ObjectId,
    moment: datetime,
) -> bool:
    """Send one claimed message and settle it; True if it was sent."""
    sender = senders.get(message["channel"])
    try:
        if sender is None:
            raise LookupError(f"no sender for channel {message['channel']}")
        if message.get("body") is None:
            # A secret wiped by an earlier attempt that was marked dead or sent.
            raise LookupError("the message's body is gone")
        sender.send(_outgoing(message))
    except Exception as error:  # noqa: BLE001 - a failed send is retried, never raised
        attempts = message["attempts"]
        reason = f"{type(error).__name__}: {error}"[:500]
        dead = attempts >= policy.max_attempts
        retry_at = None if dead else moment + backoff(policy, attempts)
        if not model.mark_failed(message, claim, reason, retry_at):
            log.warning("notification %s: claim lost while failing", message["_id"])
        elif dead:
            log.warning(
                "notification %s (%s) is dead after %d attempts: %s",
                message["_id"], message["channel"], attempts, reason,
            )  # fmt: skip
        else:
            log.info(
                "notification %s (%s) attempt %d failed, retry at %s: %s",
                message["_id"], message["channel"], attempts, retry_at, reason,
            )  # fmt: skip
        return False
    if not model.mark_sent(message, claim, utc_now()):
        # Our lease ran out and another runner claimed it again: it was sent
        # by us and will be by them (the at-least-once point, see above).
        log.warning("notification %s: sent, but the claim was lost", message["_id"])
    return True


def _outgoing(message: dict) -> Outgoing:
    return Outgoing(
        id=str(message["_id"]),
        channel=message["channel"],
        address=message["address"],
        subject=message["title"],
        body=message["body"],
        secret=bool(message.get("secret")),
        attachments=tuple(
            (item["filename"], item["mime_type"], bytes(item["content"]))
            for item in message.get("attachments") or ()
        ),
    )
