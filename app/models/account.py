"""AccountModel: the accounts collection (numbers, owners, status).

Balances live here but only app.models.ledger changes them.
"""

import secrets
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import EPOCH, keyset_page, utc_now

# The kinds a customer opens (POST /accounts, POST /banker/accounts).
ACCOUNT_KINDS = ("checking", "savings")
# A savings goal's account, opened only by the goals use case (app.core.goals).
GOAL_KIND = "goal"
# A loan's account, opened only by the loans use case (app.core.loans) when
# the loan is disbursed; its balance is negative: what the customer owes.
LOAN_KIND = "loan"
# Every kind an account object may show.
SHOWN_KINDS = (*ACCOUNT_KINDS, GOAL_KIND, LOAN_KIND)
# Accounts other than goals: what GET /accounts lists (loans included).
NOT_A_GOAL = {"kind": {"$ne": GOAL_KIND}}
# What the account limit counts: the accounts a customer opens.
OPENED_BY_CUSTOMER = {"kind": {"$nin": [GOAL_KIND, LOAN_KIND]}}
ACCOUNT_STATUSES = ("active", "frozen", "closed")
# 10^9 numbers: a second collision in a row is already vanishingly rare.
NUMBER_ATTEMPTS = 8
# What "nothing left in the account" means to a close: no money and no movement
# in flight (an applied-but-unposted entry, or an incoming transfer's hold).
EMPTY = {"balance_cents": 0, "pending_entries": {"$size": 0}, "holds": {"$size": 0}}
# Accounts with a movement in flight, as recovery asks for them: an applied
# entry not yet released, or a transfer's hold (every record and every hold has
# an id). Each is the filter of its own partial index, which holds only those
# few accounts instead of every account in the bank; the same indexes find the
# account holding one movement's record or hold (app.models.ledger_recovery.settle).
WITH_PENDING_RECORDS = {"pending_entries.id": {"$exists": True}}
WITH_HOLDS = {"holds.out": {"$exists": True}}
# Accounts holding back money for an approval (app.models.ledger.reserve): the
# few the approvals job sweeps for reservations left behind.
WITH_RESERVATIONS = {"reservations.id": {"$exists": True}}


def luhn_digit(digits: str) -> str:
    """Return the Luhn check digit for a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_account_number() -> str:
    """Draw a random 10-digit number: 9 random digits and a Luhn check digit.

    Random rather than sequential, so a number says nothing about its neighbours,
    and the check digit catches a mistyped digit before it reaches the database.
    """
    body = f"{secrets.randbelow(10**9):09d}"
    return body + luhn_digit(body)


class AccountModel:
    """Accounts, each owned by one customer."""

    @property
    def collection(self) -> Any:
        return get_db()["accounts"]

    @property
    def numbers(self) -> Any:
        """Issued account numbers, keyed by number: where uniqueness lives.

        A unique index on ``accounts.account_number`` would make the in-memory
        backend scan every account on every balance update; an ``_id`` is unique
        on both backends at no cost, and an account is written far more often
        than it is opened.
        """
        return get_db()["account_numbers"]

    def ensure_indexes(self) -> None:
        """Create the account-number look-up, listing and recovery indexes.

        The banker's list is newest first, by status or not, with a username
        prefix checked on the index key after the sort (equality, sort, range);
        the plain username index serves a selective prefix with a small sort.
        """
        newest = [("created_at", DESCENDING), ("_id", DESCENDING)]
        self.collection.create_index([("account_number", ASCENDING)])
        self.collection.create_index([("user_id", ASCENDING), *newest])
        self.collection.create_index([*newest, ("username", ASCENDING)])
        self.collection.create_index(
            [("status", ASCENDING), *newest, ("username", ASCENDING)]
        )
        self.collection.create_index([("username", ASCENDING)])
        self.collection.create_index(
            [("pending_entries.id", ASCENDING)],
            name="with_pending_records",
            partialFilterExpression=WITH_PENDING_RECORDS,
        )
        # "with_holds" was the index of the previous hold format (holds were
        # bare entry ids); a real server refuses to redefine an index under
        # its name, so the new one has its own and the old one goes.
        if "with_holds" in self.collection.index_information():
            self.collection.drop_index("with_holds")
        # Loan accounts by balance, for the job that closes paid-off loans; only
        # loan accounts are in it, so other balance updates never touch it.
        self.collection.create_index(
            [("balance_cents", ASCENDING), ("status", ASCENDING)],
            name="loan_balances",
            partialFilterExpression={"kind": LOAN_KIND},
        )
        self.collection.create_index(
            [("holds.out", ASCENDING)],
            name="in_flight_holds",
            partialFilterExpression=WITH_HOLDS,
        )
        self.collection.create_index(
            [("reservations.id", ASCENDING)],
            name="with_reservations",
            partialFilterExpression=WITH_RESERVATIONS,
        )

    def create(
        self,
        user: dict,
        currency: str,
        kind: str = "checking",
        primary: bool = False,
        account_id: ObjectId | None = None,
    ) -> dict:
        """Open an account at zero for ``user``, drawing an unused number.

        :raises DuplicateKeyError: ``account_id`` exists already.
        """
        account_id = account_id or ObjectId()
        number = self._reserve_number(account_id)
        doc = {
            "_id": account_id,
            "account_number": number,
            "user_id": user["_id"],
            "username": user["username"],
            "kind": kind,
            "primary": primary,
            "status": "active",
            "balance_cents": 0,
            "currency": currency,
            # The ledger's bookkeeping; see app.models.ledger.
            "entry_seq": 0,
            "pending_entries": [],
            "holds": [],
            # What pending approvals hold back (app.models.ledger.reserve).
            "reserved_cents": 0,
            "reservations": [],
            "fenced_until": EPOCH,
            "created_at": utc_now(),
        }
        # A crash after the reservation leaves a number that is never used:
        # harmless, and numbers are never reissued.
        self.collection.insert_one(doc)
        return doc

    def _reserve_number(self, account_id: ObjectId) -> str:
        for _attempt in range(NUMBER_ATTEMPTS):
            number = new_account_number()
            try:
                self.numbers.insert_one({"_id": number, "account_id": account_id})
                return number
            except DuplicateKeyError:
                continue  # drawn before: draw again
        raise RuntimeError("could not draw an unused account number")

    def ensure_primary(self, user: dict, currency: str) -> dict:
        """Return the user's primary account, opening it if it is missing.

        The primary account shares its _id with the user, so a crash between
        inserting the user and the account is repaired here, and two concurrent
        repairs cannot open two primaries.
        """
        account = self.find_by_id(user["_id"])
        if account is not None:
            return account
        try:
            return self.create(user, currency, primary=True, account_id=user["_id"])
        except DuplicateKeyError:
            return self.find_by_id(user["_id"])

    def find_by_id(self, account_id: ObjectId) -> dict | None:
        """Return an account by id, or None."""
        return self.collection.find_one({"_id": account_id})

    def find_by_number(self, account_number: str) -> dict | None:
        """Return an account by its number, or None."""
        return self.collection.find_one({"account_number": account_number})

    def owner_of(self, account_number: str) -> ObjectId | None:
        """Return the id of the account's owner, or None for no such account."""
        doc = self.collection.find_one(
            {"account_number": account_number}, {"user_id": 1}
        )
        return doc["user_id"] if doc else None

    def find_owned(self, user_id: ObjectId, account_number: str) -> dict | None:
        """Return the account only if ``user_id`` owns it."""
        return self.collection.find_one(
            {"account_number": account_number, "user_id": user_id}
        )

    def with_reservations(self) -> list[dict]:
        """Return every account holding a reservation: its id, owner, reservations."""
        return list(
            self.collection.find(WITH_RESERVATIONS, {"user_id": 1, "reservations": 1})
        )

    def holding(self, reservation_id: ObjectId) -> dict | None:
        """Return the account holding the reservation ``reservation_id``, or None."""
        return self.collection.find_one(
            {"$and": [WITH_RESERVATIONS, {"reservations.id": reservation_id}]}
        )

    def paid_off_loan_ids(self) -> list[ObjectId]:
        """The loan accounts still open that owe nothing (their loan is to close)."""
        docs = self.collection.find(
            {"kind": LOAN_KIND, "balance_cents": 0, "status": "active"}, {"_id": 1}
        )
        return [doc["_id"] for doc in docs]

    def find_by_ids(self, account_ids: list[ObjectId]) -> dict[ObjectId, dict]:
        """Return the accounts among ``account_ids``, by id, in one query."""
        docs = self.collection.find({"_id": {"$in": list(account_ids)}})
        return {doc["_id"]: doc for doc in docs}

    def count_for_user(self, user_id: ObjectId) -> int:
        """Count the accounts a user holds, in any status (goals are not counted:
        they have their own limit, MAX_GOALS_PER_CUSTOMER; nor are loans)."""
        return self.collection.count_documents(
            {"user_id": user_id, **OPENED_BY_CUSTOMER}
        )

    def list_for_user(
        self, user_id: ObjectId, limit: int, after: tuple | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of one user's accounts, newest first (goals are listed
        as goals, under /goals)."""
        return keyset_page(
            self.collection, {"user_id": user_id, **NOT_A_GOAL}, limit, after
        )

    def all_for_user(self, user_id: ObjectId) -> list[dict]:
        """Return every account the user owns (any kind or status), newest first.

        A customer holds few: MAX_ACCOUNTS_PER_CUSTOMER, their goals and loans.
        """
        return list(
            self.collection.find(
                {"user_id": user_id}, sort=[("created_at", -1), ("_id", -1)]
            )
        )

    def listed_for_user(self, user_id: ObjectId) -> list[dict]:
        """Return every account GET /accounts lists for the user (goals aside),
        newest first: a customer holds MAX_ACCOUNTS_PER_CUSTOMER and loans."""
        return list(
            self.collection.find(
                {"user_id": user_id, **NOT_A_GOAL},
                sort=[("created_at", -1), ("_id", -1)],
            )
        )

    def count_listed(self, user_ids: list[ObjectId]) -> dict[ObjectId, int]:
        """Count, per user among ``user_ids``, the accounts GET /accounts lists
        (goals aside): one aggregation for a whole page of users."""
        if not user_ids:
            return {}
        found = self.collection.aggregate(
            [
                {"$match": {"user_id": {"$in": list(user_ids)}, **NOT_A_GOAL}},
                {"$group": {"_id": "$user_id", "accounts": {"$sum": 1}}},
            ]
        )
        return {doc["_id"]: doc["accounts"] for doc in found}

    def ids_for_user(self, user_id: ObjectId) -> list[ObjectId]:
        """Return the ids of every account the user owns."""
        docs = self.collection.find({"user_id": user_id}, {"_id": 1})
        return [doc["_id"] for doc in docs]

    def list_page(
        self,
        limit: int,
        after: tuple | None = None,
        username_prefix: str | None = None,
        status: str | None = None,
    ) -> tuple[list[dict], bool]:
        """Return a page of all accounts, newest first, optionally filtered."""
        query: dict = {}
        if username_prefix:
            # Usernames are stored lower-case, so a prefix range on the plain
            # index is the case-insensitive search (and escapes nothing).
            query["username"] = {
                "$gte": username_prefix,
                "$lt": username_prefix + "\U0010ffff",
            }
        if status:
            query["status"] = status
        return keyset_page(self.collection, query, limit, after)

    @staticmethod
    def is_empty(account: dict) -> bool:
        """Tell whether a read of an account shows it could close (see EMPTY)."""
        return (
            account["balance_cents"] == 0
            and not account["pending_entries"]
            and not account["holds"]
        )

    def change_status(
        self, account_number: str, from_status: str, to_status: str
    ) -> dict | None:
        """Move an account from ``from_status`` to ``to_status``; return it after.

        One guarded update: None means the account was not in ``from_status``
        any more (or, for a close, was not empty), so two concurrent changes
        cannot both act on the same status. A close also requires EMPTY in the
        same filter: a movement that commits first keeps the account open, and
        one that comes after is refused by the ledger's ``status: active`` guard.
        A closed account never changes again.
        """
        if from_status == "closed":
            return None
        query: dict = {"account_number": account_number, "status": from_status}
        if to_status == "closed":
            query.update(EMPTY)
        return self.collection.find_one_and_update(
            query,
            {"$set": {"status": to_status, "status_changed_at": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )
