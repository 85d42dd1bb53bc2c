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
        """Create the unique username index."""
        self.collection.create_index([("username", ASCENDING)], unique=True)

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

    def find_by_username(self, username: str) -> dict | None:
        """Return a user by (already folded) username, or None."""
        return self.collection.find_one({"username": username})

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
        update: dict[str, Any] = {
            "$set": {f"ended_sessions.{session_id}": expires_at}
        }
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

    def set_daily_limit(
        self, user_id: ObjectId, cents: int | None
    ) -> dict | None:
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
