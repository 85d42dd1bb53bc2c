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

    def list_for_username(
        self, username: str, since: datetime, limit: int, after: tuple | None
    ) -> tuple[list[dict], bool]:
        """Return one page of the username's attempts made since ``since``.

        Newest first. ``since`` is when the user was created: attempts under the
        name before anyone held it are someone else's, not this user's history.
        """
        query = {"username": username, "created_at": {"$gte": since}}
        return keyset_page(self.collection, query, limit, after)
