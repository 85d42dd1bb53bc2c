"""Notifications: the outbox's queue, the customer's in-app list and preferences.

An event queues one message per channel (email, sms, in-app) in the outbox,
keyed by the event occurrence, so a repeat of the same occurrence (a re-sweep of
the journal, a retry of the request) queues nothing. Queueing is one insert and
never sends: the job runner sends (``app.core.notification_sending``), so a
slow or broken mail server never blocks or fails a request.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypedDict, Unpack

from bson import ObjectId

from app.core.errors import NotificationNotFound
from app.models import utc_now
from app.models.notification import NotificationModel
from app.models.user import UserModel

log = logging.getLogger("app.notifications")

# What each channel is sent to, in a users document.
ADDRESS_FIELDS = {"email": "email", "sms": "phone"}
DEFAULT_CHANNELS = ("email", "sms", "in_app")
# The channels a customer may turn off (in-app always stays on).
PREFERENCES = ("email", "sms")


def preferences(user: dict) -> dict[str, bool]:
    """Return the user's channel preferences: every channel on unless turned off."""
    stored = user.get("notification_preferences") or {}
    return {channel: bool(stored.get(channel, True)) for channel in PREFERENCES}


class PlanOptions(TypedDict, total=False):
    """The keyword options of :func:`plan` (and so of :func:`queue`)."""

    channels: Iterable[str] | None
    security: bool
    secret: bool
    now: datetime | None


def queue(
    user: dict,
    event: str,
    key: str,
    title: str,
    body: str,
    **options: Unpack[PlanOptions],
) -> int:
    """Queue event ``event`` for ``user`` (a users document) once per channel.

    channels None: email (if the user has an email), sms (if a phone), in-app,
    each as the user's preferences allow; security=True ignores the preferences
    (security events are always sent). ``key`` names the event occurrence: a
    second queue with the same key queues nothing. secret=True: the body holds a
    one-time code: never shown in-app, never logged, and wiped from the outbox
    once sent or dead. Return how many messages were queued now.

    In-app messages are for customers only (staff have no in-app list).
    """
    return queue_planned(plan(user, event, key, title, body, **options))


def plan(
    user: dict,
    event: str,
    key: str,
    title: str,
    body: str,
    *,
    channels: Iterable[str] | None = None,
    security: bool = False,
    secret: bool = False,
    now: datetime | None = None,
) -> list[dict]:
    """The messages :func:`queue` would queue, not yet written (for a sweep that
    queues a whole batch's at once with :func:`queue_planned`)."""
    now = now or utc_now()
    wanted = DEFAULT_CHANNELS if channels is None else tuple(channels)
    allowed = preferences(user)
    docs = []
    for channel in dict.fromkeys(wanted):
        if channel == "in_app":
            # A code is never shown where anyone at the screen sees it.
            if secret or user.get("role", "customer") != "customer":
                continue
            address = None
        elif channel in ADDRESS_FIELDS:
            address = user.get(ADDRESS_FIELDS[channel])
            if not address or not (security or allowed[channel]):
                continue
        else:
            raise ValueError(f"unknown channel {channel!r}")
        docs.append(
            _message(
                f"user:{user['_id']}|{key}|{channel}",
                channel=channel,
                address=address,
                event=event,
                title=title,
                body=body,
                now=now,
                user_id=user["_id"],
                secret=secret,
            )
        )
    return docs


def queue_planned(docs: list[dict]) -> int:
    """Queue planned messages whose key is new; return how many were queued."""
    queued = NotificationModel().queue_once(docs)
    if queued:
        # Never the body: it may hold a one-time code.
        log.info(
            "queued %d notification(s): %s",
            queued, ", ".join(sorted({doc["event"] for doc in docs})),
        )  # fmt: skip
    return queued


def queue_email(
    address: str,
    key: str,
    subject: str,
    body: str,
    *,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    now: datetime | None = None,
) -> int:
    """Queue one email to an address that is not a user (the monthly report to
    REPORT_RECIPIENTS); attachments are (filename, mime type, bytes). Once per key.

    Once per key and address: the same key queued to two recipients is one
    email to each.
    """
    doc = _message(
        f"address:{address}|{key}|email",
        channel="email",
        address=address,
        event="email",
        title=subject,
        body=body,
        now=now or utc_now(),
        attachments=[
            {"filename": name, "mime_type": mime, "content": bytes(content)}
            for name, mime, content in attachments
        ],
    )
    return queue_planned([doc])


def _message(
    key: str,
    *,
    channel: str,
    address: str | None,
    event: str,
    title: str,
    body: str,
    now: datetime,
    user_id: ObjectId | None = None,
    secret: bool = False,
    attachments: list[dict] | None = None,
) -> dict:
    """One outbox document; an in-app message is delivered by being stored."""
    in_app = channel == "in_app"
    return {
        "_id": ObjectId(),
        "key": key,
        "user_id": user_id,
        "channel": channel,
        "address": address,
        "event": event,
        "title": title,
        "body": body,
        "secret": secret,
        "attachments": attachments or [],
        "status": "sent" if in_app else "pending",
        "attempts": 0,
        "next_attempt_at": None if in_app else now,
        "claim": None,
        "lease_until": None,
        "last_error": None,
        "created_at": now,
        "sent_at": now if in_app else None,
        "read_at": None,
    }


# -- the customer's side ------------------------------------------------------


def list_in_app(
    user: dict, limit: int, after: tuple | None = None
) -> tuple[list[dict], bool]:
    """Return a page of the user's in-app notifications, newest first."""
    return NotificationModel().list_in_app(user["_id"], limit, after)


def mark_read(user: dict, notification_id: str, now: datetime | None = None) -> dict:
    """Mark one of the user's notifications read (the first time counts); return it.

    :raises NotificationNotFound: no such notification of the user's.
    """
    found = NotificationModel().mark_read(
        user["_id"], notification_id, now or utc_now()
    )
    if found is None:
        raise NotificationNotFound()
    return found


def set_preferences(user: dict, changes: dict[str, bool]) -> dict[str, bool]:
    """Turn channels on or off for the user; return every preference after.

    Security events (a new login, a password change or reset) are sent
    whatever these say.
    """
    if not changes:
        return preferences(user)
    updated = UserModel().set_notification_preferences(user["_id"], changes)
    return preferences(updated or user)
