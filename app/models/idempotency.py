"""IdempotencyModel: the idempotency_keys collection (one record per user and key).

A record is claimed ``in_progress`` before a money-moving request runs, carries
the id the request's movement will have, and becomes ``done`` with the response
to replay (or, when recovery settled it, the domain outcome to render). Expired
records are deleted by a TTL index (emulated in memory).
"""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import utc_now


class IdempotencyModel:
    """Idempotency keys, scoped to the user who sent them."""

    @property
    def collection(self) -> Any:
        return get_db()["idempotency_keys"]

    def ensure_indexes(self) -> None:
        """Expire records at their ``expires_at``; find stale in-progress ones."""
        self.collection.create_index("expires_at", expireAfterSeconds=0)
        self.collection.create_index([("state", ASCENDING), ("created_at", ASCENDING)])

    def claim(
        self, user_id: ObjectId, key: str, fingerprint: str, ttl: timedelta
    ) -> tuple[dict, bool]:
        """Claim ``key`` for a new request; return (record, claimed).

        When the key is already held, return the holder's record and False. The
        ``_id`` (user and key) is what makes two claims impossible, on both
        backends. A record past its expiry counts as absent.
        """
        now = utc_now()
        doc = {
            "_id": f"{user_id}:{key}",
            "user_id": user_id,
            "fingerprint": fingerprint,
            "state": "in_progress",
            # The id the movement will carry; also the claim's owner token.
            "movement_id": ObjectId(),
            "response": None,
            "created_at": now,
            "expires_at": now + ttl,
        }
        for _attempt in range(3):
            try:
                self.collection.insert_one(doc)
                return doc, True
            except DuplicateKeyError:
                existing = self.collection.find_one({"_id": doc["_id"]})
            if existing is None:
                continue  # expired and purged between the two calls
            if existing["expires_at"] > now:
                return existing, False
            self.collection.delete_one(
                {"_id": doc["_id"], "expires_at": existing["expires_at"]}
            )
        raise RuntimeError(f"could not claim idempotency key {doc['_id']}")

    def complete(
        self,
        record: dict,
        response: dict | None = None,
        outcome: dict | None = None,
    ) -> bool:
        """Store what a repeat gets; False if the claim is no longer ours.

        ``response``: the first request's own answer, replayed byte for byte.
        ``outcome``: a domain result (``{"movement_id"}``) settled after that
        request died, which the edge renders when the repeat arrives.
        """
        result = self.collection.update_one(
            {
                "_id": record["_id"],
                "movement_id": record["movement_id"],
                "state": "in_progress",
            },
            {"$set": {"state": "done", "response": response, "outcome": outcome}},
        )
        return result.matched_count == 1

    def release(self, record: dict) -> None:
        """Give the key up so that a retry runs afresh (nothing moved)."""
        self.collection.delete_one(
            {
                "_id": record["_id"],
                "movement_id": record["movement_id"],
                "state": "in_progress",
            }
        )

    def stale(self, cutoff: datetime) -> list[dict]:
        """Return in-progress records claimed at or before ``cutoff``."""
        return list(
            self.collection.find(
                {"state": "in_progress", "created_at": {"$lte": cutoff}}
            )
        )
