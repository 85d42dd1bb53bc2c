"""GoalModel: the goals collection (a customer's savings goals, one per goal account).

A goal's ``_id`` is the ``_id`` of its ledger account (kind ``goal``), so the
goal and its money are found by the same id. The balance is never copied
here: it is the account's, changed only by the ledger. What lives here is what
the ledger does not know: the name, the target, the round-up flag, the status
and the bookkeeping of a close (see :mod:`app.core.goals`).

Two limits are kept by unique indexes, so they hold under parallel requests
and across processes with no counter that could drift when a request dies:

- every goal that is not closed holds one of its owner's numbered places
  (``slot``, 0 to the limit less one); a closed goal's ``slot`` becomes its own
  id, which no other goal can hold, so closing frees the place;
- the round-up goal holds ``round_up_slot: "on"``; every other goal holds its
  own id there, so at most one goal of a customer takes the round-ups.

(A partial unique index would say the same more directly, but the in-memory
backend ignores the partial filter of a unique index.)
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import AlreadyTaken, keyset_page, to_object_id, utc_now

GOAL_STATUSES = ("active", "completed", "closed")
ROUND_UP_ON = "on"
# How many more tries than there are places an opening makes before it gives
# up: each lost try means another request took the place (or freed one).
EXTRA_ATTEMPTS = 16
NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class GoalModel:
    """Savings goals, each owned by one customer and backed by one account."""

    @property
    def collection(self) -> Any:
        return get_db()["goals"]

    def ensure_indexes(self) -> None:
        """Create the places, round-up and listing indexes."""
        self.collection.create_index(
            [("user_id", ASCENDING), ("slot", ASCENDING)],
            name="goal_places",
            unique=True,
        )
        self.collection.create_index(
            [("user_id", ASCENDING), ("round_up_slot", ASCENDING)],
            name="one_round_up_goal",
            unique=True,
        )
        self.collection.create_index(
            [("user_id", ASCENDING), *NEWEST], name="goals_newest_first"
        )
        self.collection.create_index(
            [("user_id", ASCENDING), ("status", ASCENDING), *NEWEST],
            name="goals_by_status",
        )
        # The notifications' sweep of goals completed in a window.
        self.collection.create_index(
            [("completed_at", ASCENDING)], name="goals_by_completion"
        )

    # -- opening ---------------------------------------------------------------

    def taken_places(self, user_id: ObjectId) -> set[int]:
        """Return the places the user's open (not closed) goals hold.

        A place is a number; a closed goal's ``slot`` is its id, not a number.
        """
        docs = self.collection.find(
            {"user_id": user_id, "slot": {"$type": "int"}}, {"slot": 1, "_id": 0}
        )
        return {doc["slot"] for doc in docs}

    def round_up_goal(self, user_id: ObjectId) -> dict | None:
        """Return the user's goal that takes the round-ups, or None."""
        return self.collection.find_one(
            {"user_id": user_id, "round_up_slot": ROUND_UP_ON}
        )

    def insert_within(self, doc: dict, limit: int) -> tuple[dict | None, str]:
        """Insert ``doc`` in a free place below ``limit``.

        Return (the goal, "") or (None, why): ``"limit"`` when every place is
        taken, ``"round_up"`` when the goal asks for the round-ups and another
        goal of the user holds them.
        """
        user_id = doc["user_id"]
        for _attempt in range(limit + EXTRA_ATTEMPTS):
            if doc["round_up"] and self.round_up_goal(user_id) is not None:
                return None, "round_up"
            taken = self.taken_places(user_id)
            if len(taken) >= limit:
                return None, "limit"
            slot = next(place for place in range(limit) if place not in taken)
            placed = {**doc, "slot": slot}
            try:
                self.collection.insert_one(placed)
                return placed, ""
            except DuplicateKeyError:
                continue  # a place or the round-ups were taken meanwhile: look again
        return None, "limit"

    # -- reading -----------------------------------------------------------------

    def find_owned(self, user_id: ObjectId, goal_id: str | ObjectId) -> dict | None:
        """Return the goal only if ``user_id`` owns it (None for a bad id)."""
        oid = to_object_id(goal_id)
        if oid is None:
            return None
        return self.collection.find_one({"_id": oid, "user_id": user_id})

    def find_by_id(self, goal_id: ObjectId) -> dict | None:
        """Return a goal by id, or None."""
        return self.collection.find_one({"_id": goal_id})

    def find_by_ids(self, goal_ids: list[ObjectId]) -> dict[ObjectId, dict]:
        """Return the goals among ``goal_ids``, by id (accounts that are not goals
        are simply absent)."""
        docs = self.collection.find({"_id": {"$in": list(goal_ids)}})
        return {doc["_id"]: doc for doc in docs}

    def completed_between(self, since: datetime, until: datetime) -> Any:
        """Stream the goals completed in [since, until]."""
        return self.collection.find({"completed_at": {"$gte": since, "$lte": until}})

    def list_for_user(
        self,
        user_id: ObjectId,
        limit: int,
        after: tuple | None = None,
        status: str | None = None,
    ) -> tuple[list[dict], bool]:
        """Return a page of one user's goals, newest first, maybe of one status."""
        query: dict = {"user_id": user_id}
        if status is not None:
            query["status"] = status
        return keyset_page(self.collection, query, limit, after)

    # -- changes -----------------------------------------------------------------

    def update_open(self, goal_id: ObjectId, changes: dict) -> dict | None:
        """Set ``changes`` on a goal that is neither closing nor closed; return it
        after, or None when it is closing or closed.

        :raises AlreadyTaken: ``changes`` takes the round-ups, which another
            goal of the owner holds.
        """
        try:
            return self.collection.find_one_and_update(
                {"_id": goal_id, "closing_at": None},
                {"$set": changes},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            raise AlreadyTaken("round_up") from None

    def mark_completed(self, goal_id: ObjectId, balance_cents: int) -> dict | None:
        """Complete an active goal whose target ``balance_cents`` reaches; return it
        after, or None when it was not (any more) active or the target is higher.

        The target is judged in the same update, so a PATCH that raises it at
        the same moment cannot be overtaken by a completion it no longer earns.
        """
        return self.collection.find_one_and_update(
            {
                "_id": goal_id,
                "status": "active",
                "closing_at": None,
                "target_cents": {"$ne": None, "$lte": balance_cents},
            },
            {"$set": {"status": "completed", "completed_at": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )

    def begin_close(self, goal_id: ObjectId, now: datetime) -> dict | None:
        """Mark a goal as closing (step 1 of a close) and let go of the round-ups;
        return it after. A goal closing already is returned as it is; None means
        no such goal.

        The round-ups go in the same write: from this moment no round-up is
        sent to the goal, and another goal may take them.
        """
        started = self.collection.find_one_and_update(
            {"_id": goal_id, "closing_at": None},
            {
                "$set": {
                    "closing_at": now,
                    "round_up": False,
                    "round_up_slot": goal_id,
                    "close_round": 0,
                    "refunds": {},
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return started or self.collection.find_one({"_id": goal_id})

    def record_refund(
        self, goal_id: ObjectId, close_round: int, movement_id: ObjectId
    ) -> None:
        """Remember the refund of one round of a close (idempotent: a round's
        work key always names the same movement)."""
        self.collection.update_one(
            {"_id": goal_id, "closed_at": None},
            {"$set": {f"refunds.{close_round}": movement_id}},
        )

    def next_round(self, goal_id: ObjectId, close_round: int) -> None:
        """Move a close on from ``close_round`` (guarded: two runners that both
        saw the same round move it on once)."""
        self.collection.update_one(
            {"_id": goal_id, "close_round": close_round, "closed_at": None},
            {"$inc": {"close_round": 1}},
        )

    def finish_close(
        self, goal_id: ObjectId, now: datetime, closed_on: str
    ) -> dict | None:
        """Mark a closing goal closed (``closed_on``: that day in the bank's zone)
        and free its place; return it after.

        A goal closed already is returned as it was closed.
        """
        closed = self.collection.find_one_and_update(
            {"_id": goal_id, "closing_at": {"$ne": None}, "closed_at": None},
            {
                "$set": {
                    "status": "closed",
                    "closed_at": now,
                    "closed_on": closed_on,
                    "slot": goal_id,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return closed or self.collection.find_one({"_id": goal_id})
