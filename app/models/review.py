"""ReviewModel: the reviews collection, posted movements flagged for a banker.

Written by the flagging sweep (``app.core.reviews``), one document per flagged
movement whose ``_id`` is the movement id, so a second insert of the same
review (another sweep, a re-read overlap) is a duplicate the collection
refuses and the sweep ignores. A review holds a copy of the movement's (out)
journal entry, which never changes once posted, so a page of reviews is one
query. It leaves ``open`` once, by one guarded update::

    {_id, status: open|closed, rules: [...], transaction: <journal entry>,
     created_at (opened), closed_at, closed_by, outcome, note, freeze_pending}

The close, and the freeze a fraud close makes, carry their audit entries in
their own writes (``app.models.audit_outbox``).
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.db import get_db
from app.models import insert_new, keyset_page, to_object_id
from app.models.audit_outbox import AuditOutbox, carrying

REVIEW_STATUSES = ("open", "closed")
OUTCOMES = ("legitimate", "fraud")


class ReviewModel(AuditOutbox):
    """Reviews of flagged movements, keyed by the movement id."""

    @property
    def collection(self) -> Any:
        return get_db()["reviews"]

    def ensure_indexes(self) -> None:
        """Create the list indexes: every review, or one status's, newest first.

        Look-ups by movement id (the banker lists' flags) use ``_id``.
        """
        newest = [("created_at", DESCENDING), ("_id", DESCENDING)]
        self.collection.create_index(newest, name="reviews_newest_first")
        self.collection.create_index(
            [("status", ASCENDING), *newest], name="reviews_by_status"
        )
        # The few fraud closes whose freeze is still to be made, for the job.
        self.collection.create_index(
            [("freeze_pending", ASCENDING)],
            name="freezes_pending",
            partialFilterExpression={"freeze_pending": True},
        )
        self.ensure_outbox_index()

    def open_once(self, reviews: list[dict]) -> int:
        """Insert reviews whose movement has none yet; count those inserted."""
        return insert_new(self.collection, reviews)

    def rules_of(self, movement_ids: list[ObjectId]) -> dict[ObjectId, list[str]]:
        """Return the rules of the movements among ``movement_ids`` under review."""
        if not movement_ids:
            return {}
        found = self.collection.find({"_id": {"$in": movement_ids}}, {"rules": 1})
        return {doc["_id"]: doc["rules"] for doc in found}

    def find(self, review_id: str | ObjectId) -> dict | None:
        """Return one review by id (None for an unknown or malformed one)."""
        oid = to_object_id(review_id)
        return None if oid is None else self.collection.find_one({"_id": oid})

    def close_if_open(
        self,
        review_id: str | ObjectId,
        *,
        outcome: str,
        note: str | None,
        closed_by: str,
        at: datetime,
        audit: list[dict] | None = None,
    ) -> dict | None:
        """Close an open review with its outcome; return it after, or None.

        One guarded update (``status: open``): of two closes at once, one wins
        and the other gets None. A fraud close leaves ``freeze_pending`` until
        the source account is frozen (:meth:`freeze_done`). ``audit``: the
        close's entries, written with it.
        """
        oid = to_object_id(review_id)
        if oid is None:
            return None
        return self.collection.find_one_and_update(
            {"_id": oid, "status": "open"},
            carrying({"$set": {
                "status": "closed", "outcome": outcome, "note": note,
                "closed_by": closed_by, "closed_at": at,
                "freeze_pending": outcome == "fraud",
            }}, audit or []),
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip

    def freezes_pending(self) -> list[dict]:
        """Fraud closes whose freeze is still to be made (a stopped request)."""
        return list(self.collection.find({"freeze_pending": True}))

    def freeze_done(self, review_id: ObjectId, audit: list[dict] | None = None) -> bool:
        """Note that a fraud review's source account is frozen (or cannot be),
        with the freeze's audit entries; False if another runner noted it."""
        result = self.collection.update_one(
            {"_id": review_id, "freeze_pending": True},
            carrying({"$set": {"freeze_pending": False}}, audit or []),
        )
        return result.modified_count == 1

    def count_opened(self, start: datetime, end: datetime) -> int:
        """Count the reviews opened in [start, end)."""
        found = self.collection.aggregate(
            [
                {"$match": {"created_at": {"$gte": start, "$lt": end}}},
                {"$count": "n"},
            ]
        )
        return next((doc["n"] for doc in found), 0)

    def list_page(
        self, limit: int, after: tuple | None = None, status: str | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of reviews, newest first, of one status or all."""
        query = {"status": status} if status else {}
        return keyset_page(self.collection, query, limit, after)
