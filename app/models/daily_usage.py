"""DailyUsageModel: the daily_usage collection (money sent out per customer per day).

One document per customer and bank day, ``_id`` ``"<user id>:<YYYY-MM-DD>"``:
``used_cents`` counts what left, or is leaving, the customer that day;
``pending`` lists the reservations whose movement has not been judged yet
(``{id, cents, at}``: the movement's id, amount and start). A reservation is
taken before the movement runs, by one conditional update that checks the limit
and adds the amount together, so parallel movements cannot pass the limit
between them. It is then confirmed (the movement posted: the amount stays) or
given back (refused or voided: the amount goes), each at most once, because
both are guarded by the reservation's presence in ``pending``.

Only one customer's movements write a customer's document: no document is
written by every movement of the bank.
"""

from datetime import date, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import utc_now

# Documents with a reservation still to judge (few at any time): the filter of
# the partial index the sweep of stale reservations reads.
WITH_PENDING = {"pending.at": {"$exists": True}}
# The same documents, as the index of reservations by movement id holds them.
WITH_PENDING_IDS = {"pending.id": {"$exists": True}}


def usage_id(user_id: ObjectId, day: date) -> str:
    """The ``_id`` of a customer's usage document for one bank day."""
    return f"{user_id}:{day.isoformat()}"


class DailyUsageModel:
    """Money sent out per customer and bank day."""

    @property
    def collection(self) -> Any:
        return get_db()["daily_usage"]

    def ensure_indexes(self) -> None:
        """Find stale reservations without reading every day of every customer."""
        self.collection.create_index(
            [("pending.at", ASCENDING)],
            name="with_pending_reservations",
            partialFilterExpression=WITH_PENDING,
        )
        # A movement's reservation, when its request died (settle_claim).
        self.collection.create_index(
            [("pending.id", ASCENDING)],
            name="pending_reservations_by_movement",
            partialFilterExpression=WITH_PENDING_IDS,
        )

    def used(self, user_id: ObjectId, day: date) -> int:
        """Return the cents counted against the customer's limit on ``day``."""
        doc = self.collection.find_one(
            {"_id": usage_id(user_id, day)}, {"used_cents": 1}
        )
        return doc["used_cents"] if doc else 0

    def reserve(
        self,
        user_id: ObjectId,
        day: date,
        movement_id: ObjectId,
        cents: int,
        at: datetime,
        limit_cents: int,
    ) -> int | None:
        """Count ``cents`` against ``limit_cents`` for ``day`` if they fit.

        Return None when reserved, else the cents already used that day (which
        left no room). Reserving the same movement twice counts it once.
        """
        doc_id = usage_id(user_id, day)
        query = {
            "_id": doc_id,
            "used_cents": {"$lte": limit_cents - cents},
            "pending.id": {"$ne": movement_id},
        }
        update = {
            "$inc": {"used_cents": cents},
            "$push": {"pending": {"id": movement_id, "cents": cents, "at": at}},
        }
        if cents <= limit_cents:
            try:
                # The day's first reservation creates its document.
                self.collection.update_one(
                    query,
                    {
                        **update,
                        "$setOnInsert": {
                            "user_id": user_id,
                            "day": day.isoformat(),
                            "created_at": utc_now(),
                        },
                    },
                    upsert=True,
                )
                return None
            except DuplicateKeyError:
                # The document exists (perhaps inserted by a parallel first
                # reservation a moment ago, which a real server does not retry
                # for a filter like this one): judge it without inserting.
                if self.collection.update_one(query, update).matched_count == 1:
                    return None
        doc = self.collection.find_one({"_id": doc_id}) or {}
        if any(item["id"] == movement_id for item in doc.get("pending", ())):
            return None
        return doc.get("used_cents", 0)

    def confirm(self, user_id: ObjectId, day: date, movement_id: ObjectId) -> None:
        """The movement posted: its amount stays counted; forget the reservation."""
        self.collection.update_one(
            {"_id": usage_id(user_id, day)},
            {"$pull": {"pending": {"id": movement_id}}},
        )

    def give_back(
        self, user_id: ObjectId, day: date, movement_id: ObjectId, cents: int
    ) -> bool:
        """The movement did not happen: uncount it, once. False if not reserved."""
        result = self.collection.update_one(
            {"_id": usage_id(user_id, day), "pending.id": movement_id},
            {
                "$inc": {"used_cents": -cents},
                "$pull": {"pending": {"id": movement_id}},
            },
        )
        return result.modified_count == 1

    def reservation(self, user_id: ObjectId, movement_id: ObjectId) -> tuple | None:
        """Find a movement's unjudged reservation: (day, cents, at), or None."""
        doc = self.collection.find_one(
            {"$and": [WITH_PENDING_IDS, {"pending.id": movement_id}]}
        )
        if doc is None or doc["user_id"] != user_id:
            return None
        item = next(item for item in doc["pending"] if item["id"] == movement_id)
        return date.fromisoformat(doc["day"]), item["cents"], item["at"]

    def stale(self, cutoff: datetime) -> list[tuple[ObjectId, date, dict]]:
        """Return (user id, day, reservation) for each begun before ``cutoff``."""
        found = []
        for doc in self.collection.find(
            {"$and": [WITH_PENDING, {"pending.at": {"$lt": cutoff}}]}
        ):
            day = date.fromisoformat(doc["day"])
            found.extend(
                (doc["user_id"], day, item)
                for item in doc["pending"]
                if item["at"] < cutoff
            )
        return found
