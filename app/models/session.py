"""Login sessions: failed-login throttling and the login history.

(Logged-out sessions are recorded on the user's document, which every
authenticated request reads anyway: see ``UserModel.end_session``.)

Two collections, one class each:

- ``login_failures``: the recent failed logins of one username, kept as a
  capped list pushed in one atomic update (no read-modify-write race), and
  expired by TTL once the window has passed.
- ``login_attempts``: every login attempt, for ``GET /auth/logins``.
"""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.db import get_db
from app.models import keyset_page, utc_now

LOGIN_HISTORY_KEPT = timedelta(days=90)
LOGIN_OUTCOMES = ("success", "failure", "locked", "disabled")


class LoginThrottleModel:
    """Failed logins per username (known or not), for the lockout rule.

    An attempt is *reserved* as a failure before its password is checked, in one
    atomic update that also returns the failures before it. So parallel
    guesses cannot all pass the lockout check before any of them is counted:
    the n-th concurrent attempt sees the n-1 before it.
    """

    @property
    def collection(self) -> Any:
        return get_db()["login_failures"]

    def ensure_indexes(self) -> None:
        """Forget a username's failures once its window has passed."""
        self.collection.create_index("expires_at", expireAfterSeconds=0)

    def reserve(
        self, username: str, now: datetime, window: timedelta
    ) -> tuple[ObjectId, list[datetime]]:
        """Count an attempt as failed for now; return its id and the failures
        recorded before it that are still inside the window, oldest first."""
        # Failures outside the window no longer count; dropping them first is
        # safe to race (it only ever removes stale entries) and keeps the list
        # as short as the failures that matter plus the attempts in flight.
        self.collection.update_one(
            {"_id": username}, {"$pull": {"failures": {"at": {"$lte": now - window}}}}
        )
        attempt = ObjectId()
        doc = self.collection.find_one_and_update(
            {"_id": username},
            {
                "$push": {"failures": {"id": attempt, "at": now}},
                "$set": {"expires_at": now + window},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        before = [
            f["at"]
            for f in doc["failures"]
            if f["id"] != attempt and f["at"] > now - window
        ]
        return attempt, sorted(before)

    def release(self, username: str, attempt: ObjectId) -> None:
        """Take back a reserved attempt that turned out not to be a failure."""
        self.collection.update_one(
            {"_id": username}, {"$pull": {"failures": {"id": attempt}}}
        )

    def reset(self, username: str) -> None:
        """Forget the username's failures (after a successful login)."""
        self.collection.delete_one({"_id": username})


class LoginAttemptModel:
    """Every login attempt: when, from where, and how it ended."""

    @property
    def collection(self) -> Any:
        return get_db()["login_attempts"]

    def ensure_indexes(self) -> None:
        """The history of one username, newest first; forgotten after 90 days."""
        self.collection.create_index(
            [("username", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        # The notifications' sweep: the successes in a window, and whether a
        # user signed in before, and from that address and user agent.
        self.collection.create_index(
            [("outcome", ASCENDING), ("created_at", ASCENDING)], name="logins_by_time"
        )
        self.collection.create_index(
            [("user_id", ASCENDING), ("outcome", ASCENDING),
             ("created_at", ASCENDING), ("_id", ASCENDING)],
            name="logins_of_user",
        )  # fmt: skip
        self.collection.create_index(
            [("user_id", ASCENDING), ("outcome", ASCENDING), ("ip", ASCENDING),
             ("user_agent", ASCENDING), ("created_at", ASCENDING),
             ("_id", ASCENDING)],
            name="logins_of_user_by_device",
        )  # fmt: skip
        self.collection.create_index("expires_at", expireAfterSeconds=0)

    def record(
        self,
        username: str,
        outcome: str,
        *,
        user_id: ObjectId | None,
        ip: str | None,
        user_agent: str | None,
    ) -> dict:
        """Store one attempt."""
        now = utc_now()
        doc = {
            "_id": ObjectId(),
            "username": username,
            "user_id": user_id,
            "outcome": outcome,
            "ip": ip,
            "user_agent": user_agent,
            "created_at": now,
            "expires_at": now + LOGIN_HISTORY_KEPT,
        }
        self.collection.insert_one(doc)
        return doc

    def successes_between(self, since: datetime, until: datetime) -> Any:
        """Stream the successful logins made in [since, until]."""
        return self.collection.find(
            {"outcome": "success", "created_at": {"$gte": since, "$lte": until}}
        )

    def first_success(
        self, user_id: ObjectId, device: tuple[str | None, str | None] | None = None
    ) -> dict | None:
        """Return the user's earliest successful login still in the history, or
        the earliest from ``device`` (an address and user agent), or None."""
        query: dict = {"user_id": user_id, "outcome": "success"}
        if device is not None:
            query.update(ip=device[0], user_agent=device[1])
        return self.collection.find_one(
            query, sort=[("created_at", ASCENDING), ("_id", ASCENDING)]
        )

    def outcome_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        """Count the attempts made in [start, end) by outcome (one aggregation)."""
        found = self.collection.aggregate(
            [
                {"$match": {"outcome": {"$in": list(LOGIN_OUTCOMES)},
                            "created_at": {"$gte": start, "$lt": end}}},
                {"$group": {"_id": "$outcome", "n": {"$sum": 1}}},
            ]
        )  # fmt: skip
        return {doc["_id"]: doc["n"] for doc in found}

    def outcomes_by_period(self, boundaries: list[datetime]) -> list[dict]:
        """Count the attempts by outcome in each period between ``boundaries``
        (ascending instants): ``{"_id": <period start>, <outcome>: n, ...}`` for
        each period with any, in one aggregation."""
        found = self.collection.aggregate(
            [
                {"$match": {"outcome": {"$in": list(LOGIN_OUTCOMES)},
                            "created_at": {"$gte": boundaries[0],
                                           "$lt": boundaries[-1]}}},
                {"$bucket": {
                    "groupBy": "$created_at",
                    "boundaries": boundaries,
                    "output": {
                        outcome: {"$sum": {"$cond": [
                            {"$eq": ["$outcome", outcome]}, 1, 0]}}
                        for outcome in LOGIN_OUTCOMES
                    },
                }},
            ]
        )  # fmt: skip
        return list(found)

    def list_for_username(
        self, username: str, since: datetime, limit: int, after: tuple | None
    ) -> tuple[list[dict], bool]:
        """Return one page of the username's attempts made since ``since``.

        Newest first. ``since`` is when the user was created: attempts under the
        name before anyone held it are someone else's, not this user's history.
        """
        query = {"username": username, "created_at": {"$gte": since}}
        return keyset_page(self.collection, query, limit, after)
