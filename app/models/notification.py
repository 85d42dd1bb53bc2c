"""NotificationModel: the notifications collection, the outbox of every channel.

One document per message on one channel, written once when its event is
queued and keyed by ``key`` (the event occurrence and the channel), unique: a
second queue of the same occurrence (a re-sweep, a retry) is a duplicate the
collection refuses and the queue ignores::

    {_id, key, user_id, channel: email|sms|in_app, address, event, title,
     body, secret, attachments: [{filename, mime_type, content}],
     status: pending|sending|sent|dead, attempts, next_attempt_at,
     claim, lease_until, last_error, created_at, sent_at, read_at}

An in-app message is delivered by being stored (``status: sent`` at once);
``GET /notifications`` lists them. An email or sms leaves ``pending`` by one
guarded update that claims it for one runner (a fresh ``claim`` token and a
lease); only the holder of the current claim can mark it sent or failed, so a
runner whose lease expired, and whose message another runner claimed again,
cannot overwrite that runner's outcome.
"""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.db import get_db
from app.models import insert_new, keyset_page, to_object_id

CHANNELS = ("email", "sms", "in_app")
STATUSES = ("pending", "sending", "sent", "dead")


class NotificationModel:
    """The outbox: messages queued once per event and channel, sent by the job."""

    @property
    def collection(self) -> Any:
        return get_db()["notifications"]

    def ensure_indexes(self) -> None:
        """Create the unique key, the in-app list and the sender's due index."""
        self.collection.create_index(
            [("key", ASCENDING)], unique=True, name="notifications_once"
        )
        self.collection.create_index(
            [
                ("user_id", ASCENDING),
                ("channel", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="notifications_in_app",
        )
        # The sender's claims and due count: the messages still to send, by
        # when they are due (a claimed one: when its lease ends).
        self.collection.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)],
            name="notifications_to_send",
        )

    def queue_once(self, docs: list[dict]) -> int:
        """Insert messages whose key is new; count those inserted.

        The keys queued before are read first (one query), so a re-sweep that
        meets its own earlier work costs a read, not a refused insert each;
        whatever slips in between the read and the insert (another runner) is
        refused by the unique key.
        """
        if not docs:
            return 0
        taken = self.keys_among([doc["key"] for doc in docs])
        return insert_new(self.collection, [d for d in docs if d["key"] not in taken])

    def keys_among(self, keys: list[str]) -> set[str]:
        """Return which of ``keys`` are queued already."""
        found = self.collection.find({"key": {"$in": keys}}, {"key": 1})
        return {doc["key"] for doc in found}

    def find_in_app(self, user_id: ObjectId, notification_id: str) -> dict | None:
        """Return one of the user's in-app notifications, or None."""
        oid = to_object_id(notification_id)
        if oid is None:
            return None
        return self.collection.find_one(
            {"_id": oid, "user_id": user_id, "channel": "in_app"}
        )

    def mark_read(
        self, user_id: ObjectId, notification_id: str, at: datetime
    ) -> dict | None:
        """Set an in-app notification's ``read_at`` once; return it, or None.

        Reading it again keeps the first time (idempotent).
        """
        oid = to_object_id(notification_id)
        if oid is None:
            return None
        query = {"_id": oid, "user_id": user_id, "channel": "in_app"}
        self.collection.update_one(
            {**query, "read_at": None}, {"$set": {"read_at": at}}
        )
        return self.collection.find_one(query)

    def list_in_app(
        self, user_id: ObjectId, limit: int, after: tuple | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of the user's in-app notifications, newest first."""
        query = {"user_id": user_id, "channel": "in_app"}
        return keyset_page(self.collection, query, limit, after)

    def claim_due(
        self, now: datetime, lease: timedelta, claim: ObjectId
    ) -> dict | None:
        """Claim the next message due to send for ``lease``; return it, or None.

        Due: pending with its attempt time come, or being sent by a runner whose
        lease ran out (it stopped). One guarded update, so of two runners one
        gets the message and the other the next one.
        """
        # A claimed message's next_attempt_at is its lease's end: past it, the
        # runner that claimed it stopped, and the message is due again.
        return self.collection.find_one_and_update(
            {
                "status": {"$in": ["pending", "sending"]},
                "next_attempt_at": {"$lte": now},
            },
            {
                "$set": {
                    "status": "sending",
                    "claim": claim,
                    "lease_until": now + lease,
                    "next_attempt_at": now + lease,
                },
                "$inc": {"attempts": 1},
            },
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    def mark_sent(self, message: dict, claim: ObjectId, at: datetime) -> bool:
        """Mark a claimed message sent (a secret's body wiped); False if not ours."""
        changes: dict[str, Any] = {
            "status": "sent",
            "sent_at": at,
            "last_error": None,
            "lease_until": None,
        }
        return self._settle(message, claim, changes)

    def mark_failed(
        self, message: dict, claim: ObjectId, error: str, retry_at: datetime | None
    ) -> bool:
        """Give a claimed message back to retry at ``retry_at``, or dead (None).

        A dead secret's body is wiped. False if the claim is no longer ours.
        """
        changes: dict[str, Any] = {"last_error": error, "lease_until": None}
        if retry_at is None:
            changes["status"] = "dead"
        else:
            changes.update(status="pending", next_attempt_at=retry_at)
        return self._settle(message, claim, changes)

    def _settle(self, message: dict, claim: ObjectId, changes: dict) -> bool:
        """Apply a claimed message's outcome, if the claim is still the current one.

        A secret's body (a one-time code) leaves the outbox once it is sent or
        dead: nothing can need it after.
        """
        if message.get("secret") and changes["status"] in ("sent", "dead"):
            changes["body"] = None
        result = self.collection.update_one(
            {"_id": message["_id"], "status": "sending", "claim": claim},
            {"$set": changes},
        )
        return result.modified_count == 1

    def due_count(self, now: datetime) -> int:
        """Count the messages due to send now (pending or abandoned mid-send)."""
        return self.collection.count_documents(
            {
                "status": {"$in": ["pending", "sending"]},
                "next_attempt_at": {"$lte": now},
            }
        )

    def find(self, message_id: ObjectId) -> dict | None:
        """Return one message by id, or None."""
        return self.collection.find_one({"_id": message_id})
