"""The customer's notifications (the in-app list, read marks, channel
preferences) and the settings the notifications job runs with."""

from datetime import timedelta

from flask import current_app

from app.core import notifications
from app.core.notification_events import NotifyRules
from app.core.notification_sending import Sender, SendPolicy
from app.core.recovery import feed_overlap
from app.schemas.common import PageArgsSchema, page
from app.schemas.notification import (
    notification_schema,
    preferences_schema,
    update_preferences_schema,
)
from app.senders import build_senders

_page_args = PageArgsSchema()


def notify_rules() -> NotifyRules:
    """What the settings say about notifications."""
    config = current_app.config
    return NotifyRules(
        large_cents=int(config["NOTIFY_LARGE_AMOUNT"] * 100),
        currency=config["CURRENCY"],
        zone=config["BANK_TIMEZONE"],
        overlap=feed_overlap(config["LEDGER_PENDING_TIMEOUT"]),
    )


def send_policy() -> SendPolicy:
    """How the outbox retries a failed send."""
    config = current_app.config
    return SendPolicy(
        max_attempts=config["NOTIFY_MAX_ATTEMPTS"],
        retry=timedelta(seconds=config["NOTIFY_RETRY_SECONDS"]),
    )


def senders() -> dict[str, Sender]:
    """Each channel's sender, as the settings choose (built once per app)."""
    built = current_app.extensions.get("notification_senders")
    if built is None:
        built = current_app.extensions["notification_senders"] = build_senders(
            current_app.config
        )
    return built


def list_notifications(user: dict, args: dict) -> dict:
    """Return a page of the caller's notifications, newest first.

    :raises ValidationError: a bad limit or cursor.
    """
    query = _page_args.load(args)
    docs, more = notifications.list_in_app(user, query["limit"], query["cursor"])
    return page(notification_schema.dump(docs, many=True), docs, more)


def mark_read(user: dict, notification_id: str) -> dict:
    """Mark one of the caller's notifications read; render it.

    :raises NotificationNotFound: no such notification of the caller's.
    """
    return notification_schema.dump(notifications.mark_read(user, notification_id))


def get_preferences(user: dict) -> dict:
    """Return the caller's channel preferences."""
    return preferences_schema.dump(notifications.preferences(user))


def update_preferences(user: dict, payload: object) -> dict:
    """Turn the caller's channels on or off; render every preference after.

    :raises ValidationError: a field other than email and sms, or not a boolean.
    """
    changes = update_preferences_schema.load(payload)
    return preferences_schema.dump(notifications.set_preferences(user, changes))
