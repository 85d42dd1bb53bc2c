"""PasswordResetModel: the password_resets collection, one live request per user.

One document per username, keyed by the (folded) username, so a new request
replaces the old one in one upsert and the old code stops working at once::

    {_id: username, request_id, user_id, code_hash, state: live|consumed,
     tries, created_at, expires_at, purge_at, channel,
     # once consumed:
     consumed_at, password_hash, seen_cutoff, audit_id, ip, http_request_id}

``user_id`` is None when no code could be sent (no such user, a disabled one,
no email or phone): the document is written anyway, so every request costs the
same writes, and no confirmation can match it. ``code_hash`` is the code's
HMAC (app/core/password_reset.py); the code itself is never stored.

A code is taken by one guarded update (:meth:`consume`), which also keeps what
the rest of the reset needs (the new password's hash, the user's session
cut-off as read): a request that stops after it leaves the reset for
:meth:`stale` and the recovery to finish, never half done. The document is
deleted when the reset is finished; a live one is forgotten by TTL
(``purge_at``) after its code expired, a consumed one only when finished.
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db

LIVE, CONSUMED = "live", "consumed"


class PasswordResetModel:
    """The users' password reset requests, one per username."""

    @property
    def collection(self) -> Any:
        return get_db()["password_resets"]

    def ensure_indexes(self) -> None:
        """Forget expired requests; find consumed ones the recovery finishes."""
        self.collection.create_index("purge_at", expireAfterSeconds=0)
        self.collection.create_index(
            [("consumed_at", ASCENDING)],
            name="password_resets_consumed",
            partialFilterExpression={"state": CONSUMED},
        )

    def replace(
        self,
        username: str,
        *,
        request_id: ObjectId,
        user_id: ObjectId | None,
        code_hash: str,
        channel: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> bool:
        """Make this the username's one live request (one upsert); False when a
        consumed reset of the username is still being finished.

        The old request, live or spent, is replaced whole: its code stops
        working and its tries are forgotten with it.
        """
        fields = {
            "request_id": request_id,
            "user_id": user_id,
            "code_hash": code_hash,
            "state": LIVE,
            "tries": 0,
            "created_at": now,
            "expires_at": expires_at,
            "purge_at": expires_at,
            "channel": channel,
        }
        try:
            # A consumed reset holds a new password not yet written: it must be
            # finished (by its request or the recovery), never replaced.
            self.collection.update_one(
                {"_id": username, "state": {"$ne": CONSUMED}},
                {"$set": fields},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    def note_unsent(self, username: str, request_id: ObjectId) -> None:
        """Record that the request's code went nowhere.

        What a request with no one to send to does instead of queueing a
        message, at the same cost: queueing reads the outbox for the message's
        key and inserts it (NotificationModel.queue_once), so this reads the
        request back and writes it. Every request then costs the same round
        trips (tests/test_password_reset.py counts them on every path).
        """
        query = {"_id": username, "request_id": request_id}
        self.collection.find_one(query, {"channel": 1})
        self.collection.update_one(query, {"$set": {"channel": None}})

    def consume(
        self,
        username: str,
        user_id: ObjectId,
        code_hash: str,
        now: datetime,
        *,
        max_tries: int,
        pending: dict,
    ) -> dict | None:
        """Take the username's live code if it is ``code_hash``; return the
        request as consumed, or None (one guarded update).

        The code must be the live request's, of ``user_id``, unexpired and with
        fewer than ``max_tries`` wrong tries; ``pending`` (what finishing the
        reset needs) is stored with it in the same write.
        """
        return self.collection.find_one_and_update(
            {
                "_id": username,
                "user_id": user_id,
                "state": LIVE,
                "code_hash": code_hash,
                "expires_at": {"$gt": now},
                "tries": {"$lt": max_tries},
            },
            {
                "$set": {**pending, "state": CONSUMED, "consumed_at": now},
                # Kept until the reset is finished, whatever the TTL says.
                "$unset": {"purge_at": ""},
            },
            return_document=ReturnDocument.AFTER,
        )

    def count_wrong_try(
        self, username: str, now: datetime, max_tries: int
    ) -> dict | None:
        """Count one wrong code against the username's live request (one guarded
        ``$inc``); return it after, or None when there is none to count against.

        The ``max_tries``-th wrong try leaves it unusable: :meth:`consume` wants
        fewer.
        """
        return self.collection.find_one_and_update(
            {
                "_id": username,
                "state": LIVE,
                "expires_at": {"$gt": now},
                "tries": {"$lt": max_tries},
            },
            {"$inc": {"tries": 1}},
            projection={"tries": 1, "user_id": 1},
            return_document=ReturnDocument.AFTER,
        )

    def stale(self, before: datetime, limit: int = 100) -> list[dict]:
        """Return consumed requests taken before ``before``: their request stopped."""
        return list(
            self.collection.find(
                {"state": CONSUMED, "consumed_at": {"$lte": before}},
                sort=[("consumed_at", ASCENDING)],
                limit=limit,
            )
        )

    def count_stale(self, before: datetime) -> int:
        """Count the consumed requests taken before ``before``."""
        return self.collection.count_documents(
            {"state": CONSUMED, "consumed_at": {"$lte": before}}
        )

    def finish(self, username: str, request_id: ObjectId) -> None:
        """Forget a finished reset (and the password hash it held)."""
        self.collection.delete_one(
            {"_id": username, "request_id": request_id, "state": CONSUMED}
        )
