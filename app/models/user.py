"""UserModel: the users collection (credentials, role, profile)."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument

from app.db import get_db
from app.models import EPOCH, to_object_id, utc_now
from app.passwords import hash_password, verify_password

ROLES = ("customer", "banker", "auditor")
STAFF_ROLES = ("banker", "auditor")
# What the bankers' directory reads of a user: never a hash or a session.
DIRECTORY_FIELDS = {
    field: 1
    for field in ("username", "role", "full_name", "email", "phone", "active",
                  "created_at", "last_login_at", "daily_limit_cents")
}  # fmt: skip
# Above every character a username can hold: the end of a prefix's range.
PREFIX_END = "\U0010ffff"


class UserModel:
    """Users; usernames are stored folded to lower case and unique.

    ``hash_method`` (werkzeug's method string, the PASSWORD_HASH_METHOD
    setting) is needed only by the methods that hash or check a password.
    """

    def __init__(self, hash_method: str | None = None) -> None:
        self._hash_method = hash_method

    @property
    def hash_method(self) -> str:
        if self._hash_method is None:
            raise RuntimeError("UserModel(hash_method=...) is needed for passwords")
        return self._hash_method

    @property
    def collection(self) -> Any:
        return get_db()["users"]

    def ensure_indexes(self) -> None:
        """Create the unique username index, the directory's and the report's.

        The bankers' directory lists users by username, of one role, one status
        or both (a username prefix is a range on the same key); the monthly
        report counts customers by when they joined.
        """
        self.collection.create_index([("username", ASCENDING)], unique=True)
        by_name = ("username", ASCENDING)
        self.collection.create_index(
            [("role", ASCENDING), by_name], name="users_by_role"
        )
        self.collection.create_index(
            [("active", ASCENDING), by_name], name="users_by_status"
        )
        self.collection.create_index(
            [("role", ASCENDING), ("active", ASCENDING), by_name],
            name="users_by_role_and_status",
        )
        self.collection.create_index(
            [("role", ASCENDING), ("created_at", ASCENDING)], name="users_by_joining"
        )

    def create(
        self,
        username: str,
        password: str,
        role: str,
        email: str | None = None,
        full_name: str | None = None,
    ) -> dict:
        """Insert a user with a hashed password; DuplicateKeyError if taken."""
        doc = {
            "_id": ObjectId(),
            "username": username,
            "password_hash": hash_password(password, self.hash_method),
            "role": role,
            "email": email,
            "full_name": full_name,
            "active": True,
            "created_at": utc_now(),
        }
        self.collection.insert_one(doc)
        return doc

    def find_by_id(self, user_id: str | ObjectId) -> dict | None:
        """Return a user by id, or None."""
        oid = to_object_id(user_id)
        return None if oid is None else self.collection.find_one({"_id": oid})

    def find_by_ids(self, user_ids: list[ObjectId]) -> dict[ObjectId, dict]:
        """Return the users among ``user_ids`` by id (one query)."""
        if not user_ids:
            return {}
        found = self.collection.find({"_id": {"$in": list(set(user_ids))}})
        return {doc["_id"]: doc for doc in found}

    def set_notification_preferences(
        self, user_id: ObjectId, preferences: dict[str, bool]
    ) -> dict | None:
        """Set some of the user's channel preferences; return the user after."""
        return self.collection.find_one_and_update(
            {"_id": user_id},
            {"$set": {
                f"notification_preferences.{channel}": bool(on)
                for channel, on in preferences.items()
            }},
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip

    def find_by_username(self, username: str) -> dict | None:
        """Return a user by (already folded) username, or None."""
        return self.collection.find_one({"username": username})

    # -- the bankers' directory and reports ------------------------------------

    def directory_page(
        self,
        limit: int,
        after: str | None = None,
        *,
        role: str | None = None,
        active: bool | None = None,
        prefix: str | None = None,
    ) -> tuple[list[dict], bool]:
        """Return a page of users by username, after ``after``, filtered.

        ``prefix`` (folded like usernames) is a range on the username index,
        never a pattern, so nothing in it needs escaping. Users stored before
        the ``active`` flag existed are active. Only DIRECTORY_FIELDS are read.
        """
        query: dict[str, Any] = {}
        if role is not None:
            query["role"] = role
        if active is True:
            query["active"] = {"$ne": False}
        elif active is False:
            query["active"] = False
        name: dict[str, str] = {}
        if prefix:
            name.update({"$gte": prefix, "$lt": prefix + PREFIX_END})
        if after is not None:
            name["$gt"] = after
        if name:
            query["username"] = name
        docs = list(
            self.collection.find(
                query,
                DIRECTORY_FIELDS,
                sort=[("username", ASCENDING)],
                limit=limit + 1,
            )
        )
        return docs[:limit], len(docs) > limit

    def directory_entry(self, user_id: str | ObjectId) -> dict | None:
        """Return one user's DIRECTORY_FIELDS, or None (also for a malformed id)."""
        oid = to_object_id(user_id)
        if oid is None:
            return None
        return self.collection.find_one({"_id": oid}, DIRECTORY_FIELDS)

    def note_login(self, user_id: ObjectId, at: datetime) -> None:
        """Keep when the user last signed in (``$max``: never moved back)."""
        self.collection.update_one({"_id": user_id}, {"$max": {"last_login_at": at}})

    def customer_counts(self, start: datetime, end: datetime) -> tuple[int, int]:
        """Count the customers who joined in [start, end), and all who had by end."""
        found = self.collection.aggregate(
            [
                {"$match": {"role": "customer", "created_at": {"$lt": end}}},
                {"$group": {
                    "_id": None,
                    "total": {"$sum": 1},
                    "new": {"$sum": {"$cond": [
                        {"$gte": ["$created_at", start]}, 1, 0]}},
                }},
            ]
        )  # fmt: skip
        for doc in found:
            return doc["new"], doc["total"]
        return 0, 0

    def authenticate(self, username: str, password: str) -> dict | None:
        """Return the user when the password matches, else None, in similar time."""
        user = self.find_by_username(username)
        stored = user["password_hash"] if user else None
        return user if verify_password(stored, password, self.hash_method) else None

    def change_password(
        self, user_id: ObjectId, password: str, keep_session: str | None
    ) -> None:
        """Store a new password and end every session but ``keep_session``.

        Tokens of sessions started before now are refused from here on (see
        ``tokens_valid_after`` in app/security.py), except the caller's own.
        """
        self.collection.update_one(
            {"_id": user_id},
            {
                "$set": {
                    "password_hash": hash_password(password, self.hash_method),
                    "tokens_valid_after": utc_now(),
                    "session_kept": keep_session,
                }
            },
        )

    def apply_reset(
        self,
        user_id: ObjectId,
        password_hash: str,
        *,
        seen_cutoff: datetime | None,
        reset_id: ObjectId,
        now: datetime,
    ) -> bool:
        """Store a reset's new password and end every session; False if refused.

        One update guarded by the session cut-off as the reset read it: a
        password change, a disable or another reset since then (each moves the
        cut-off) wins, and applying the same reset again changes nothing.
        ``password_reset_id`` tells later which reset set the password.
        """
        result = self.collection.update_one(
            {"_id": user_id, "tokens_valid_after": seen_cutoff},
            {
                "$set": {
                    "password_hash": password_hash,
                    "tokens_valid_after": now,
                    "session_kept": None,
                    "password_reset_id": reset_id,
                }
            },
        )
        return result.matched_count == 1

    def update_profile(self, user_id: ObjectId, changes: dict) -> dict | None:
        """Set profile fields (None clears one); return the user after, or None."""
        return self.collection.find_one_and_update(
            {"_id": user_id},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    def end_session(
        self, user: dict, session_id: str, expires_at: datetime, now: datetime
    ) -> None:
        """Record that ``session_id`` was logged out until ``expires_at``.

        Ended sessions live on the user's document, which every authenticated
        request reads anyway, so checking a token costs no read of its own. The
        same write forgets ended sessions whose tokens have all expired, so the
        map stays as small as the user's recently ended, still-valid sessions.
        """
        ended = user.get("ended_sessions") or {}
        update: dict[str, Any] = {"$set": {f"ended_sessions.{session_id}": expires_at}}
        stale = {
            f"ended_sessions.{sid}": ""
            for sid, until in ended.items()
            if until <= now and sid != session_id
        }
        if stale:
            update["$unset"] = stale
        self.collection.update_one({"_id": user["_id"]}, update)

    def set_active(self, user_id: str | ObjectId, active: bool) -> dict | None:
        """Enable or disable a user; return the user after, or None if unknown.

        Disabling also ends every live session: tokens issued before now are
        refused (``tokens_valid_after``) and no session is kept, so a disabled
        user's tokens stop working at once, not when they expire.
        """
        oid = to_object_id(user_id)
        if oid is None:
            return None
        changes: dict[str, Any] = {"active": active}
        if not active:
            changes.update(tokens_valid_after=utc_now(), session_kept=None)
        # return_document=True is ReturnDocument.AFTER: the user as updated.
        return self.collection.find_one_and_update(
            {"_id": oid}, {"$set": changes}, return_document=True
        )

    def set_daily_limit(self, user_id: ObjectId, cents: int | None) -> dict | None:
        """Set the user's own daily limit (None: the bank's); return the user after."""
        return self.collection.find_one_and_update(
            {"_id": user_id},
            {"$set": {"daily_limit_cents": cents}},
            return_document=ReturnDocument.AFTER,
        )

    def reserve_account(self, user_id: ObjectId, limit: int) -> bool:
        """Take one of the user's ``limit`` account places; False if none is left.

        One guarded increment of the user's own ``accounts_opened`` counter, so
        parallel openings cannot all pass a count that each read before the
        others inserted. Unset means never counted (see :meth:`start_count`).
        """
        result = self.collection.update_one(
            {"_id": user_id, "accounts_opened": {"$lt": limit}},
            {"$inc": {"accounts_opened": 1}, "$set": {"accounts_opened_at": utc_now()}},
        )
        return result.matched_count == 1

    def account_count(self, user_id: ObjectId) -> tuple[int | None, datetime]:
        """Return the user's account counter and when it last went up."""
        doc = self.collection.find_one(
            {"_id": user_id}, {"accounts_opened": 1, "accounts_opened_at": 1}
        )
        doc = doc or {}
        return doc.get("accounts_opened"), doc.get("accounts_opened_at", EPOCH)

    def start_count(self, user_id: ObjectId, accounts: int) -> None:
        """Set the counter of a user who has none to the accounts they hold."""
        self.collection.update_one(
            {"_id": user_id, "accounts_opened": {"$exists": False}},
            {"$set": {"accounts_opened": accounts, "accounts_opened_at": EPOCH}},
        )

    def correct_count(
        self, user_id: ObjectId, seen: int, seen_at: datetime, accounts: int
    ) -> None:
        """Lower the counter to ``accounts`` if nothing changed it since it was read."""
        self.collection.update_one(
            {"_id": user_id, "accounts_opened": seen, "accounts_opened_at": seen_at},
            {"$set": {"accounts_opened": accounts}},
        )

    def release_account(self, user_id: ObjectId) -> None:
        """Give back a place taken by an opening that failed."""
        self.collection.update_one(
            {"_id": user_id, "accounts_opened": {"$gt": 0}},
            {"$inc": {"accounts_opened": -1}},
        )
