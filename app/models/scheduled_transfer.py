"""ScheduledTransferModel: standing orders and the runs of their occurrences.

``scheduled_transfers`` holds one document per order: what to pay, its
calendar (``start_date``, ``recurrence``), where it stands (``status``,
``next_index`` and ``next_run_date``: the next occurrence to pay, ``runs_made``,
``failures_in_a_row``) and, while a runner works on it, a ``lease``. Every
change of where an order stands is one update guarded by the occurrence it
moves past, so two runners (or a runner and a customer pausing) cannot both
move it. ``scheduled_runs`` holds one document per settled occurrence, unique by order
and date, so an occurrence is recorded once whoever records it.
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import keyset_page, utc_now

STATUSES = ("active", "paused", "completed", "cancelled", "suspended")
# An occurrence that asked a banker (a large transfer) is recorded awaiting its
# approval, with ``approval_id``; what it came to is the approval's.
AWAITING_APPROVAL = "awaiting_approval"
RUN_STATUSES = ("succeeded", "failed", AWAITING_APPROVAL)


class ScheduledTransferModel:
    """Customers' standing orders."""

    @property
    def collection(self) -> Any:
        return get_db()["scheduled_transfers"]

    @property
    def runs(self) -> Any:
        return get_db()["scheduled_runs"]

    def ensure_indexes(self) -> None:
        """A customer's orders newest first; the due ones; an order's runs."""
        newest = [("created_at", DESCENDING), ("_id", DESCENDING)]
        self.collection.create_index([("user_id", ASCENDING), *newest])
        self.collection.create_index(
            [("status", ASCENDING), ("next_run_date", ASCENDING)]
        )
        self.runs.create_index([("order_id", ASCENDING), *newest])
        # What makes an occurrence recorded once, whoever records it.
        self.runs.create_index(
            [("order_id", ASCENDING), ("due_date", ASCENDING)], unique=True
        )
        # The notifications' sweep of the runs that failed in a window.
        self.runs.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING)], name="runs_by_status"
        )

    def create(self, doc: dict) -> dict:
        """Store a new order."""
        now = utc_now()
        doc = {
            **doc,
            "_id": ObjectId(),
            "status": "active",
            "next_index": 0,
            "runs_made": 0,
            "failures_in_a_row": 0,
            "last_attempt": None,
            "lease": None,
            "paying": None,
            "created_at": now,
            "updated_at": now,
        }
        self.collection.insert_one(doc)
        return doc

    def find_owned(self, user_id: ObjectId, order_id: ObjectId) -> dict | None:
        """Return the order only if ``user_id`` placed it."""
        return self.collection.find_one({"_id": order_id, "user_id": user_id})

    def list_for_user(
        self, user_id: ObjectId, limit: int, after: tuple | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of one customer's orders, newest first."""
        return keyset_page(self.collection, {"user_id": user_id}, limit, after)

    def due(self, today: str, limit: int | None = None) -> list[dict]:
        """Return active orders with an occurrence due on or before ``today``."""
        cursor = self.collection.find(
            {"status": "active", "next_run_date": {"$lte": today}},
            sort=[("next_run_date", ASCENDING)],
        )
        return list(cursor.limit(limit) if limit else cursor)

    def count_due(self, today: str) -> int:
        """Count active orders with an occurrence due on or before ``today``."""
        return self.collection.count_documents(
            {"status": "active", "next_run_date": {"$lte": today}}
        )

    def take_lease(
        self, order_id: ObjectId, token: ObjectId, now: datetime, until: datetime
    ) -> dict | None:
        """Lease an active order to one runner; None if another holds it.

        Only saves work: what is paid once is decided by the occurrence's claim.
        """
        return self.collection.find_one_and_update(
            {
                "_id": order_id,
                "status": "active",
                "$or": [{"lease": None}, {"lease.until": {"$lt": now}}],
            },
            {"$set": {"lease": {"token": token, "until": until}}},
            return_document=ReturnDocument.AFTER,
        )

    def drop_lease(self, order_id: ObjectId, token: ObjectId) -> None:
        """Give the order's lease back."""
        self.collection.update_one(
            {"_id": order_id, "lease.token": token}, {"$set": {"lease": None}}
        )

    def start_paying(self, order: dict, until: datetime) -> dict | None:
        """Mark the order's current occurrence as being paid, until ``until``.

        Guarded by the order being active on that occurrence and by no other
        fresh mark, so a pause or cancel (which wait for no mark) either lands
        first, and nothing is paid, or after the payment is recorded. None: the
        order moved, or another runner is paying it.
        """
        now = utc_now()
        return self.collection.find_one_and_update(
            {
                "_id": order["_id"],
                "status": "active",
                "next_index": order["next_index"],
                "$or": [{"paying": None}, {"paying.until": {"$lt": now}}],
            },
            {"$set": {"paying": {"index": order["next_index"], "until": until}}},
            return_document=ReturnDocument.AFTER,
        )

    def find_run(self, order: dict, due_date: str) -> dict | None:
        """Return the recorded run of an occurrence, or None."""
        return self.runs.find_one({"order_id": order["_id"], "due_date": due_date})

    def note_attempt(self, order: dict, attempt: dict) -> None:
        """Remember a failed attempt at the order's current occurrence."""
        self.collection.update_one(
            {"_id": order["_id"], "next_index": order["next_index"]},
            {
                "$set": {
                    "last_attempt": attempt,
                    "paying": None,
                    "updated_at": utc_now(),
                }
            },
        )

    def advance(
        self,
        order: dict,
        next_index: int,
        next_run_date: str | None,
        succeeded: bool,
        suspend_after: int,
    ) -> dict | None:
        """Move the order past its current occurrence; return it after, or None.

        Guarded by the occurrence it moves past: a second runner that settled
        the same occurrence finds the order moved already and changes nothing.
        With no next occurrence the order completes; a failure that makes
        ``suspend_after`` in a row suspends it. A paused or cancelled order
        keeps its status (the occurrence was already being paid).
        """
        failures = 0 if succeeded else order["failures_in_a_row"] + 1
        changes = {
            "next_index": next_index,
            "next_run_date": next_run_date,
            "failures_in_a_row": failures,
            "last_attempt": None,
            "paying": None,
            "updated_at": utc_now(),
        }
        status = None
        if next_run_date is None:
            status = "completed"
        elif failures >= suspend_after:
            status = "suspended"
        guard = {"_id": order["_id"], "next_index": order["next_index"]}
        # One write either way: the status moves with the occurrence when the
        # order is still active, so no crash can leave an active order with no
        # next date; a paused or cancelled order moves on and keeps its status.
        if status is not None:
            moved = self.collection.find_one_and_update(
                {**guard, "status": "active"},
                {"$set": {**changes, "status": status}, "$inc": {"runs_made": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if moved is not None:
                return moved
        return self.collection.find_one_and_update(
            guard,
            {"$set": changes, "$inc": {"runs_made": 1}},
            return_document=ReturnDocument.AFTER,
        )

    def change_status(
        self,
        order_id: ObjectId,
        from_statuses: tuple[str, ...],
        to_status: str,
        extra: dict | None = None,
        not_paying_at: datetime | None = None,
    ) -> dict | None:
        """Move an order from one of ``from_statuses``; None if it was in none.

        ``not_paying_at``: only if no runner's mark (``start_paying``) is fresh
        at that time.
        """
        query: dict = {"_id": order_id, "status": {"$in": list(from_statuses)}}
        if not_paying_at is not None:
            query["$or"] = [{"paying": None}, {"paying.until": {"$lt": not_paying_at}}]
        return self.collection.find_one_and_update(
            query,
            {"$set": {"status": to_status, "updated_at": utc_now(), **(extra or {})}},
            return_document=ReturnDocument.AFTER,
        )

    def record_run(self, order: dict, run: dict) -> dict:
        """Record a settled occurrence once; return the record kept."""
        doc = {
            "_id": ObjectId(),
            "order_id": order["_id"],
            "user_id": order["user_id"],
            **run,
            "created_at": run["attempted_at"],
        }
        try:
            self.runs.insert_one(doc)
        except DuplicateKeyError:
            return self.runs.find_one(
                {"order_id": order["_id"], "due_date": run["due_date"]}
            )
        return doc

    def find_many(self, order_ids: list[ObjectId]) -> list[dict]:
        """The orders among ``order_ids``, in one query."""
        if not order_ids:
            return []
        return list(self.collection.find({"_id": {"$in": list(set(order_ids))}}))

    def failed_runs_between(self, since: datetime, until: datetime) -> Any:
        """Stream the runs recorded ``failed`` in [since, until]."""
        return self.runs.find(
            {"status": "failed", "created_at": {"$gte": since, "$lte": until}}
        )

    def list_runs(
        self, order_id: ObjectId, limit: int, after: tuple | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of an order's runs, newest first."""
        return keyset_page(self.runs, {"order_id": order_id}, limit, after)
