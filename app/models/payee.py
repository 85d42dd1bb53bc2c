"""PayeeModel: the payees collection (the accounts a customer pays, by name)."""

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import AlreadyTaken, keyset_page, to_object_id

# How many more tries than there are places a request makes before it gives
# up: each lost try means another request took the place (or freed one).
EXTRA_ATTEMPTS = 16


class PayeeModel:
    """Payees, each kept by one customer for one account number.

    Every payee holds one of its keeper's numbered places (``slot``, from 0 to
    the limit less one), and a unique index allows one payee per place: the
    limit holds exactly under parallel requests and across processes, with no
    counter to drift when a request dies halfway.
    """

    @property
    def collection(self) -> Any:
        return get_db()["payees"]

    def ensure_indexes(self) -> None:
        """Create the one-payee-per-account, places and listing indexes."""
        self.collection.create_index(
            [("user_id", ASCENDING), ("account_number", ASCENDING)],
            name="one_payee_per_account",
            unique=True,
        )
        self.collection.create_index(
            [("user_id", ASCENDING), ("slot", ASCENDING)],
            name="payee_places",
            unique=True,
        )
        self.collection.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="payees_newest_first",
        )

    def taken_places(self, user_id: ObjectId) -> set[int]:
        """Return the places the user's payees hold."""
        docs = self.collection.find({"user_id": user_id}, {"slot": 1, "_id": 0})
        return {doc["slot"] for doc in docs}

    def insert_within(self, doc: dict, limit: int) -> dict | None:
        """Insert ``doc`` (with ``user_id`` and ``account_number``) in a free
        place below ``limit``; return it, or None when every place is taken.

        :raises AlreadyTaken: the user keeps this account as a payee already.
        """
        user_id = doc["user_id"]
        for _attempt in range(limit + EXTRA_ATTEMPTS):
            taken = self.taken_places(user_id)
            if len(taken) >= limit:
                return None
            slot = next(place for place in range(limit) if place not in taken)
            placed = {**doc, "slot": slot}
            try:
                self.collection.insert_one(placed)
                return placed
            except DuplicateKeyError:
                # Either index may have refused it; only the account's is final.
                if self.find_by_account(user_id, doc["account_number"]) is not None:
                    raise AlreadyTaken(doc["account_number"]) from None
        return None

    def find_by_account(self, user_id: ObjectId, account_number: str) -> dict | None:
        """Return the user's payee for ``account_number``, or None."""
        return self.collection.find_one(
            {"user_id": user_id, "account_number": account_number}
        )

    def find_by_accounts(
        self, pairs: set[tuple[ObjectId, str]]
    ) -> dict[tuple[ObjectId, str], dict]:
        """Return the payees of many (user id, account number) pairs, in one query.

        Keyed by the pair; a pair no payee holds is absent.
        """
        numbers: dict[ObjectId, list[str]] = {}
        for user_id, account_number in sorted(pairs):
            numbers.setdefault(user_id, []).append(account_number)
        if not numbers:
            return {}
        found = self.collection.find(
            {"$or": [
                {"user_id": user_id, "account_number": {"$in": owned}}
                for user_id, owned in numbers.items()
            ]}
        )  # fmt: skip
        return {(doc["user_id"], doc["account_number"]): doc for doc in found}

    def find_owned(self, user_id: ObjectId, payee_id: str | ObjectId) -> dict | None:
        """Return the payee only if ``user_id`` keeps it (None for a bad id)."""
        oid = to_object_id(payee_id)
        if oid is None:
            return None
        return self.collection.find_one({"_id": oid, "user_id": user_id})

    def list_for_user(
        self, user_id: ObjectId, limit: int, after: tuple | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of one user's payees, newest first."""
        return keyset_page(self.collection, {"user_id": user_id}, limit, after)

    def update_owned(
        self, user_id: ObjectId, payee_id: str | ObjectId, changes: dict
    ) -> dict | None:
        """Set ``changes`` on the user's payee; return it after, or None."""
        oid = to_object_id(payee_id)
        if oid is None:
            return None
        if not changes:
            return self.find_owned(user_id, oid)
        return self.collection.find_one_and_update(
            {"_id": oid, "user_id": user_id},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    def delete_owned(self, user_id: ObjectId, payee_id: str | ObjectId) -> dict | None:
        """Delete the user's payee (its place comes free); return it, or None."""
        oid = to_object_id(payee_id)
        if oid is None:
            return None
        return self.collection.find_one_and_delete({"_id": oid, "user_id": user_id})
