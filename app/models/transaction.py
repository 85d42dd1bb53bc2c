"""TransactionModel: the transactions collection, the ledger's journal.

Entries are written and moved through their states only by app.models.ledger;
this class reads them and owns the collection's indexes.
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from app.db import get_db
from app.models import keyset_page, time_window

TRANSACTION_TYPES = ("deposit", "withdrawal", "transfer_in", "transfer_out")


class TransactionModel:
    """Journal entries: one per movement of one account's balance."""

    @property
    def collection(self) -> Any:
        return get_db()["transactions"]

    def ensure_indexes(self) -> None:
        """Create the (account, time) index every list query uses."""
        self.collection.create_index(
            [("account_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        self.collection.create_index([("created_at", DESCENDING), ("_id", DESCENDING)])
        self.collection.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        self.collection.create_index([("status", ASCENDING), ("posted_at", ASCENDING)])

    def find_entry(self, entry_id: ObjectId) -> dict | None:
        """Return one journal entry by id, or None."""
        return self.collection.find_one({"_id": entry_id})

    def movements_posted_between(self, since: datetime, until: datetime) -> Any:
        """Stream the movements posted in [since, until]: one entry each (a
        deposit, a withdrawal, or a transfer's out leg)."""
        return self.collection.find(
            {
                "status": "posted",
                "posted_at": {"$gte": since, "$lte": until},
                "type": {"$in": ["deposit", "withdrawal", "transfer_out"]},
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
