"""PayeeModel: the payees collection (the accounts a customer pays, by name).

A deleted payee is forgotten by the customer's lists, not by the flag rules:
``payees_deleted`` keeps what the rules judge (its account, when it was added,
its name check) and when it went, so a payment made to it is judged by the
payee it paid however late the flagging sweep looks (deleting it first dodges
nothing). Written once per deletion, read once per sweep batch: no movement
pays for it.
"""

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import AlreadyTaken, keyset_page, to_object_id, utc_now

# How many more tries than there are places a request makes before it gives
# up: each lost try means another request took the place (or freed one).
EXTRA_ATTEMPTS = 16
# What a deleted payee keeps for the flag rules (see the module docstring).
KEPT = ("user_id", "account_number", "created_at", "name_check")


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

    @property
    def deleted(self) -> Any:
        """Deleted payees, as the flag rules judge them."""
        return get_db()["payees_deleted"]

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
        self.deleted.create_index(
            [("user_id", ASCENDING), ("account_number", ASCENDING)],
            name="deleted_payees_by_account",
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
        query = _by_pairs(pairs)
        if query is None:
            return {}
        found = self.collection.find(query)
        return {(doc["user_id"], doc["account_number"]): doc for doc in found}

    def ever_kept(
        self, pairs: set[tuple[ObjectId, str]]
    ) -> dict[tuple[ObjectId, str], list[dict]]:
        """Every payee, kept or deleted, of many (user id, account number) pairs,
        in two queries: by the pair, the payees (with ``deleted_at`` when they
        were deleted) a payment to that account may have paid."""
        query = _by_pairs(pairs)
        if query is None:
            return {}
        kept: dict[tuple[ObjectId, str], list[dict]] = {}
        for doc in [*self.collection.find(query), *self.deleted.find(query)]:
            kept.setdefault((doc["user_id"], doc["account_number"]), []).append(doc)
        return kept

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
        """Delete the user's payee (its place comes free); return it, or None.

        Kept for the flag rules first, then deleted: a delete that stops in
        between leaves the payee in place and kept, and its retry deletes it
        (``deleted_at`` moves to the latest try, never back).
        """
        payee = self.find_owned(user_id, payee_id)
        if payee is None:
            return None
        kept = {name: payee[name] for name in KEPT if name in payee}
        change = {"$setOnInsert": kept, "$max": {"deleted_at": utc_now()}}
        try:
            self.deleted.update_one({"_id": payee["_id"]}, change, upsert=True)
        except DuplicateKeyError:  # a racing delete kept it first
            self.deleted.update_one({"_id": payee["_id"]}, change)
        gone = self.collection.delete_one({"_id": payee["_id"], "user_id": user_id})
        return payee if gone.deleted_count == 1 else None


def _by_pairs(pairs: set[tuple[ObjectId, str]]) -> dict | None:
    """The filter of many (user id, account number) pairs; None for none."""
    numbers: dict[ObjectId, list[str]] = {}
    for user_id, account_number in sorted(pairs):
        numbers.setdefault(user_id, []).append(account_number)
    if not numbers:
        return None
    return {"$or": [
        {"user_id": user_id, "account_number": {"$in": owned}}
        for user_id, owned in numbers.items()
    ]}  # fmt: skip
