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

    def find_entry(self, entry_id: ObjectId) -> dict | None:
        """Return one journal entry by id, or None."""
        return self.collection.find_one({"_id": entry_id})

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
