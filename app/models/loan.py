"""LoanModel: the loans collection (applications and the loans they become).

A loan's money is in its ledger account (kind ``loan``, opened at
disbursement, whose ``_id`` is the loan's), changed only by the ledger. What
lives here is what the ledger does not know: the terms, the state, who
decided, the schedule frozen at disbursement, and two watermarks that only
move forward:

- ``charged``: how many periods' interest has been charged (the interest of
  period ``charged + 1`` is next, on ``next_charge_on``); advanced by a guarded
  increment, so a period is counted once;
- ``next_unpaid_on``: the due date of the oldest instalment not fully repaid
  (``$max`` of dates written ``YYYY-MM-DD``, so a late writer never moves it
  back), which ``overdue=true`` filters on.

Every change of state is one update guarded by the states it may leave, so
two deciders reach one outcome; a decision's audit entry is written by that
same update (``app.models.audit_outbox``).
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.db import get_db
from app.models import keyset_page, to_object_id
from app.models.audit_outbox import FIELD, AuditOutbox, carrying

# ``disbursing``: a banker took the loan out of ``approved`` to disburse it; it
# shows as ``approved`` until the money has moved (see app.core.loans).
LOAN_STATUSES = (
    "submitted", "approved", "rejected", "withdrawn", "disbursing", "active", "closed",
)  # fmt: skip
NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class LoanModel(AuditOutbox):
    """Loans, each applied for by one customer."""

    @property
    def collection(self) -> Any:
        return get_db()["loans"]

    def ensure_indexes(self) -> None:
        """The listing, queue and job indexes."""
        self.collection.create_index(
            [("user_id", ASCENDING), *NEWEST], name="loans_by_customer"
        )
        self.collection.create_index(
            [("status", ASCENDING), *NEWEST], name="loans_by_status"
        )
        self.collection.create_index(
            [("status", ASCENDING), ("next_charge_on", ASCENDING)],
            name="loans_to_charge",
        )
        self.collection.create_index(
            [("status", ASCENDING), ("status_at", ASCENDING)], name="loans_stalled"
        )
        self.collection.create_index(
            [("status", ASCENDING), ("closing", ASCENDING)], name="loans_closing"
        )
        self.collection.create_index(
            [("status", ASCENDING), ("next_unpaid_on", ASCENDING)], name="loans_overdue"
        )
        # The monthly report: loans by when their money went out, and those
        # that may owe at a month's end (open, or closed since), found without
        # reading the loans closed before it.
        self.collection.create_index(
            [("disbursed_at", ASCENDING)], name="loans_by_disbursement"
        )
        self.collection.create_index(
            [("status", ASCENDING), ("disbursed_at", ASCENDING)],
            name="loans_active_by_disbursement",
        )
        self.collection.create_index(
            [("status", ASCENDING), ("closed_at", ASCENDING)], name="loans_closed"
        )
        self.ensure_outbox_index()

    def disbursed_between(self, start: datetime, end: datetime) -> tuple[int, int]:
        """Count the loans disbursed in [start, end) and sum their principal."""
        found = self.collection.aggregate(
            [
                {"$match": {"disbursed_at": {"$gte": start, "$lt": end}}},
                {"$group": {"_id": None, "count": {"$sum": 1},
                            "cents": {"$sum": "$principal_cents"}}},
            ]
        )  # fmt: skip
        return next(((doc["count"], doc["cents"]) for doc in found), (0, 0))

    def ids_owing_at(self, end: datetime) -> list[ObjectId]:
        """The ids of the loans that may owe something at ``end`` (each also the
        id of its ledger account), in one query: those active now and paid out
        before it, and those closed since (one paid out after ``end`` has no
        entry before it, so it adds nothing). A loan closed before ``end`` owed
        0.00 then (it closes only at 0.00, and its account first), so leaving
        it out bounds the list by the live book, not every loan ever made."""
        owing = {"$or": [{"status": "active", "disbursed_at": {"$lt": end}},
                         {"status": "closed", "closed_at": {"$gte": end}}]}  # fmt: skip
        return [doc["_id"] for doc in self.collection.find(owing, {"_id": 1})]

    def insert(self, doc: dict, audit: list[dict] | None = None) -> dict:
        """Store a new application with the audit entries of its making."""
        self.collection.insert_one({**doc, FIELD: list(audit)} if audit else doc)
        return doc

    def find(self, loan_id: str | ObjectId) -> dict | None:
        """Return a loan by id (a malformed id names none)."""
        oid = to_object_id(loan_id)
        return None if oid is None else self.collection.find_one({"_id": oid})

    def move(
        self,
        loan_id: ObjectId,
        from_states: tuple[str, ...],
        to: str,
        changes: dict,
        lease: ObjectId | None = None,
        audit: list[dict] | None = None,
    ) -> dict | None:
        """Move a loan from one of ``from_states`` to ``to``; None if it was in
        none of them (another decision came first). ``lease``: only if the
        loan's disbursement lease is still that one (no runner took it over).
        ``audit``: the decision's entries, written with it."""
        query: dict = {"_id": loan_id, "status": {"$in": list(from_states)}}
        if lease is not None:
            query["lease"] = lease
        return self.collection.find_one_and_update(
            query,
            carrying({"$set": {"status": to, **changes}}, audit or []),
            return_document=ReturnDocument.AFTER,
        )

    def take_over(
        self, loan_id: ObjectId, lease: ObjectId | None, now: datetime
    ) -> dict | None:
        """Take a stalled disbursement's lease from the runner that held it."""
        return self.collection.find_one_and_update(
            {"_id": loan_id, "status": "disbursing", "lease": lease},
            {"$set": {"lease": ObjectId(), "status_at": now}},
            return_document=ReturnDocument.AFTER,
        )

    def mark_closing(self, loan_id: ObjectId, closing: bool) -> None:
        """Note that nothing is owed and the loan is being closed (or not)."""
        self.collection.update_one({"_id": loan_id}, {"$set": {"closing": closing}})

    def closing(self) -> Any:
        """Active loans whose close a stopped request left halfway."""
        return self.collection.find({"status": "active", "closing": True})

    def count_charged(
        self, loan_id: ObjectId, period: int, interest_cents: int, next_on: str | None
    ) -> dict | None:
        """Count period ``period``'s interest as charged, once (None: already)."""
        return self.collection.find_one_and_update(
            {"_id": loan_id, "charged": period - 1},
            {
                "$inc": {"charged": 1, "interest_charged_cents": interest_cents},
                "$set": {"next_charge_on": next_on},
            },
            return_document=ReturnDocument.AFTER,
        )

    def paid_up_to(self, loan_id: ObjectId, next_unpaid_on: str) -> None:
        """Move the oldest-unpaid watermark forward (never back)."""
        self.collection.update_one(
            {"_id": loan_id}, {"$max": {"next_unpaid_on": next_unpaid_on}}
        )

    def list_for_user(
        self, user_id: ObjectId, limit: int, after: tuple | None = None,
        statuses: list | None = None,
    ) -> tuple[list[dict], bool]:  # fmt: skip
        query: dict = {"user_id": user_id}
        if statuses:
            query["status"] = {"$in": statuses}
        return keyset_page(self.collection, query, limit, after)

    def list_page(
        self, limit: int, after: tuple | None = None, statuses: list | None = None,
        overdue_before: str | None = None,
    ) -> tuple[list[dict], bool]:  # fmt: skip
        """Every customer's loans, newest first; ``overdue_before``: active loans
        with an instalment due before that date not fully repaid."""
        query: dict = {}
        if statuses:
            query["status"] = {"$in": statuses}
        if overdue_before is not None:
            query["status"] = "active"
            query["next_unpaid_on"] = {"$lt": overdue_before}
        return keyset_page(self.collection, query, limit, after)

    def to_charge(self, today: str) -> list[dict]:
        """Active loans with a period's interest due on or before ``today``."""
        return list(
            self.collection.find(
                {"status": "active", "next_charge_on": {"$lte": today}}
            )
        )

    def count_to_charge(self, today: str) -> int:
        return self.collection.count_documents(
            {"status": "active", "next_charge_on": {"$lte": today}}
        )

    def stalled(self, status: str, before: datetime) -> list[dict]:
        """Loans left in ``status`` since before ``before`` (a stopped request)."""
        return list(
            self.collection.find({"status": status, "status_at": {"$lte": before}})
        )

    def find_many(self, loan_ids: list[ObjectId]) -> list[dict]:
        """The loans among ``loan_ids``, in one query."""
        if not loan_ids:
            return []
        return list(self.collection.find({"_id": {"$in": loan_ids}}))

    def ids_among(self, ids: list[ObjectId]) -> set[ObjectId]:
        """Which of ``ids`` are loans (a loan's account has the loan's id)."""
        if not ids:
            return set()
        docs = self.collection.find({"_id": {"$in": ids}}, {"_id": 1})
        return {doc["_id"] for doc in docs}

    def overdue(self, today: str) -> Any:
        """Active loans with an instalment due before ``today`` not fully repaid."""
        return self.collection.find(
            {"status": "active", "next_unpaid_on": {"$lt": today}}
        )
