"""TransactionModel: the transactions collection, the ledger's journal.

Entries are written only by app.models.ledger, each once, in its final state
(posted, rejected or aborted); this class reads them and owns the indexes.
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from app.db import get_db
from app.models import keyset_page, time_window

TRANSACTION_TYPES = ("deposit", "withdrawal", "transfer_in", "transfer_out", "interest")
# What a statement's boundary reads of an entry.
BOUNDARY_FIELDS = {"seq": 1, "balance_after_cents": 1, "created_at": 1, "posted_at": 1}


class TransactionModel:
    """Journal entries: one per movement of one account's balance."""

    @property
    def collection(self) -> Any:
        return get_db()["transactions"]

    def ensure_indexes(self) -> None:
        """Create the indexes of the journal's queries (tests/test_indexes.py).

        The lists show posted entries only, newest first, by account or for the
        whole bank, with or without a type: partial indexes over posted entries
        serve each with its sort (rejected and aborted entries stay out). The
        audit feed reads movements by type and posting time.
        """
        newest = [("created_at", DESCENDING), ("_id", DESCENDING)]
        posted = {"partialFilterExpression": {"status": "posted"}}
        self.collection.create_index(
            [("account_id", ASCENDING), *newest], name="posted_by_account", **posted
        )
        self.collection.create_index(
            [("account_id", ASCENDING), ("type", ASCENDING), *newest],
            name="posted_by_account_and_type",
            **posted,
        )
        self.collection.create_index(newest, name="posted", **posted)
        self.collection.create_index(
            [("type", ASCENDING), *newest], name="posted_by_type", **posted
        )
        self.collection.create_index(
            [("type", ASCENDING), ("posted_at", ASCENDING)],
            name="posted_by_type_and_time",
            **posted,
        )
        # The review flags count one customer's outgoing movements in a window.
        self.collection.create_index(
            [("user_id", ASCENDING), ("type", ASCENDING), ("posted_at", ASCENDING)],
            name="posted_by_user_type_and_time",
            **posted,
        )
        # Statements: an account's entries by seq (a month's lines, read as a
        # range of the account's contiguous seq) and by posting time (where a
        # month's boundary falls, and which months saw activity).
        self.collection.create_index(
            [("account_id", ASCENDING), ("seq", ASCENDING)],
            name="posted_by_account_and_seq",
            **posted,
        )
        self.collection.create_index(
            [("account_id", ASCENDING), ("posted_at", ASCENDING)],
            name="posted_by_account_and_time",
            **posted,
        )

    def month_figures(
        self,
        start: datetime,
        end: datetime,
        customer_types: tuple[str, ...],
        account_ids: list[ObjectId],
    ) -> tuple[dict[str, tuple[int, int]], int, int]:
        """Read the month [start, end) from the journal, in one aggregation.

        Return, for the entries posted in the month, each type's number and
        amount in cents, and how many customers had an entry of
        ``customer_types``; and the sum of the balances of ``account_ids`` (the
        loans' accounts) at ``end``: every delta posted on them before it. The
        two ``$or`` branches are two index ranges (the month by type and time;
        those accounts by time); the facets tell their entries apart.
        """
        month = {
            "type": {"$in": list(TRANSACTION_TYPES)},
            "posted_at": {"$gte": start, "$lt": end},
        }
        owned = {"account_id": {"$in": list(account_ids)}, "posted_at": {"$lt": end}}
        branches = [month, owned] if account_ids else [month]
        found = self.collection.aggregate(
            [
                {"$match": {"status": "posted", "$or": branches}},
                {"$facet": {
                    "by_type": [
                        {"$match": month},
                        {"$group": {"_id": "$type", "count": {"$sum": 1},
                                    "cents": {"$sum": "$amount_cents"}}},
                    ],
                    "customers": [
                        {"$match": {**month,
                                    "type": {"$in": list(customer_types)}}},
                        {"$group": {"_id": "$user_id"}},
                        {"$count": "n"},
                    ],
                    "balances": [
                        {"$match": owned},
                        {"$group": {"_id": None,
                                    "cents": {"$sum": "$delta_cents"}}},
                    ],
                }},
            ]
        )  # fmt: skip
        facets = next(iter(found), {})
        by_type = {
            doc["_id"]: (doc["count"], doc["cents"])
            for doc in facets.get("by_type", [])
        }
        customers = next((doc["n"] for doc in facets.get("customers", [])), 0)
        balances = next((doc["cents"] for doc in facets.get("balances", [])), 0)
        return by_type, customers, balances

    def find_entry(self, entry_id: ObjectId) -> dict | None:
        """Return one journal entry by id, or None."""
        return self.collection.find_one({"_id": entry_id})

    def find_entries(self, entry_ids: list[ObjectId]) -> dict[ObjectId, dict]:
        """Return the journal entries among ``entry_ids`` by id (one query)."""
        if not entry_ids:
            return {}
        found = self.collection.find({"_id": {"$in": entry_ids}})
        return {doc["_id"]: doc for doc in found}

    def movements_posted_between(self, since: datetime, until: datetime) -> Any:
        """Stream the movements posted in [since, until]: one entry each (a
        deposit, a withdrawal, a transfer's out leg, or a loan's interest)."""
        return self.collection.find(
            {
                "status": "posted",
                "posted_at": {"$gte": since, "$lte": until},
                "type": {"$in": ["deposit", "withdrawal", "transfer_out", "interest"]},
            }
        )

    def count_posted_by_user(
        self,
        user_id: ObjectId,
        types: tuple[str, ...],
        after: datetime,
        until: datetime,
    ) -> int:
        """Count the user's posted entries of ``types`` posted in (after, until]."""
        return self.collection.count_documents(
            {
                "user_id": user_id,
                "status": "posted",
                "type": {"$in": list(types)},
                "posted_at": {"$gt": after, "$lte": until},
            }
        )

    def list_posted(
        self,
        limit: int,
        after: tuple | None = None,
        account_ids: list[ObjectId] | None = None,
        type_: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[dict], bool]:
        """Return a page of posted entries, newest first, filtered as asked."""
        query: dict = {"status": "posted"}
        if account_ids is not None:
            query["account_id"] = {"$in": account_ids}
        if type_:
            query["type"] = type_
        query.update(time_window("created_at", start, end))
        return keyset_page(self.collection, query, limit, after)

    # -- statements and analytics ----------------------------------------------

    def latest_posted_before(self, account_id: ObjectId, instant: datetime) -> Any:
        """Return the account's entry posted last before ``instant``, or None.

        Only its seq, balance and times: what a statement's boundary needs.
        """
        return self.collection.find_one(
            {"account_id": account_id, "status": "posted",
             "posted_at": {"$lt": instant}},
            BOUNDARY_FIELDS,
            sort=[("posted_at", DESCENDING)],
        )  # fmt: skip

    def posted_in_window(
        self, account_id: ObjectId, since: datetime, until: datetime
    ) -> list[dict]:
        """Return the account's entries posted in [since, until): seq and balance."""
        return list(
            self.collection.find(
                {"account_id": account_id, "status": "posted",
                 "posted_at": {"$gte": since, "$lt": until}},
                BOUNDARY_FIELDS,
            )
        )  # fmt: skip

    def posted_seq_range(
        self, account_id: ObjectId, after_seq: int, through_seq: int
    ) -> list[dict]:
        """Return the account's posted entries with seq in (after, through], in
        seq order."""
        return list(
            self.collection.find(
                {"account_id": account_id, "status": "posted",
                 "seq": {"$gt": after_seq, "$lte": through_seq}},
                sort=[("seq", ASCENDING)],
            )
        )  # fmt: skip

    def posted_with_seqs(self, account_id: ObjectId, seqs: list[int]) -> list[dict]:
        """Return the account's posted entries whose seq is among ``seqs``."""
        return list(
            self.collection.find(
                {"account_id": account_id, "status": "posted", "seq": {"$in": seqs}}
            )
        )

    def posted_for_user(
        self, user_id: ObjectId, since: datetime, until: datetime
    ) -> Any:
        """Stream the user's entries posted in [since, until), every account's:
        only what the monthly figures need."""
        return self.collection.find(
            {"user_id": user_id, "status": "posted",
             "type": {"$in": list(TRANSACTION_TYPES)},
             "posted_at": {"$gte": since, "$lt": until}},
            {"type": 1, "amount_cents": 1, "counterparty_account_number": 1,
             "posted_at": 1},
        )  # fmt: skip
