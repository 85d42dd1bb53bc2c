"""ApprovalModel: the approvals collection (large movements waiting for a banker).

One document per customer request that needs a banker's approval. Its ``_id``
is also the id of the reservation that holds the amount back on the source
account (``app.models.ledger.reserve``), so either can be found from the other.
Every change of ``status`` is one update guarded by the status it leaves, so
of two deciders racing, exactly one moves the document and the other finds it
moved. ``approving`` (a banker approved; the movement is being posted) carries
a ``lease``: a token and an expiry, so that only the lease holder records the
outcome, and the job takes over an approval whose approver stopped. The request
and each outcome carry their audit entry in the same write
(``app.models.audit_outbox``).
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.db import get_db
from app.models import keyset_page, utc_now
from app.models.audit_outbox import FIELD, AuditOutbox, carrying

PENDING = "pending_approval"
# Approved, the movement being posted; shown as pending until it has its outcome.
APPROVING = "approving"
POSTED, REJECTED, CANCELLED, EXPIRED, FAILED = (
    "posted",
    "rejected",
    "cancelled",
    "expired",
    "failed",
)
TERMINAL = (POSTED, REJECTED, CANCELLED, EXPIRED, FAILED)
# What the API shows and filters by.
SHOWN_STATUSES = (PENDING, *TERMINAL)
KINDS = ("withdrawal", "transfer")


def shown_status(status: str) -> str:
    """The status a client sees: an approval still being posted is pending."""
    return PENDING if status == APPROVING else status


def stored_statuses(shown: str) -> list[str]:
    """The stored statuses behind one shown status."""
    return [PENDING, APPROVING] if shown == PENDING else [shown]


class ApprovalModel(AuditOutbox):
    """Customers' large movements, each waiting for (or past) a banker's decision."""

    @property
    def collection(self) -> Any:
        return get_db()["approvals"]

    def ensure_indexes(self) -> None:
        """A customer's approvals and the banker's lists newest first (by status
        or not); the pending ones past their expiry; the approving ones whose
        lease ran out."""
        newest = [("created_at", DESCENDING), ("_id", DESCENDING)]
        self.collection.create_index([("user_id", ASCENDING), *newest])
        self.collection.create_index(newest)
        self.collection.create_index([("status", ASCENDING), *newest])
        self.collection.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        self.collection.create_index(
            [("status", ASCENDING), ("lease.until", ASCENDING)]
        )
        self.ensure_outbox_index()

    def create(self, doc: dict, audit: list[dict] | None = None) -> dict:
        """Store a new pending approval (``doc`` carries its ``_id``) with the
        audit entry of its request (see ``app.models.audit_outbox``)."""
        doc = {
            **doc,
            "status": PENDING,
            "decided_by": None,
            "decided_at": None,
            "reason": None,
            "transfer_id": None,
            "lease": None,
            "updated_at": doc["created_at"],
        }
        self.collection.insert_one({**doc, FIELD: list(audit)} if audit else doc)
        return doc

    def find(self, approval_id: ObjectId) -> dict | None:
        """Return an approval by id, or None."""
        return self.collection.find_one({"_id": approval_id})

    def find_many(self, approval_ids: list[ObjectId]) -> dict[ObjectId, dict]:
        """Return the approvals among ``approval_ids``, by id, in one query."""
        docs = self.collection.find({"_id": {"$in": list(approval_ids)}})
        return {doc["_id"]: doc for doc in docs}

    def list_for_user(
        self, user_id: ObjectId, limit: int, after: tuple | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of one customer's approvals, newest first."""
        return keyset_page(self.collection, {"user_id": user_id}, limit, after)

    def list_page(
        self, limit: int, after: tuple | None = None, status: str | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of every approval, newest first, of one shown status."""
        query = {"status": {"$in": stored_statuses(status)}} if status else {}
        return keyset_page(self.collection, query, limit, after)

    def close_pending(
        self,
        approval_id: ObjectId,
        status: str,
        decided_by: str | None,
        reason: str | None,
        now: datetime,
        expired_only: bool = False,
        audit: list[dict] | None = None,
    ) -> dict | None:
        """Move a pending approval to ``status``; None if it was not pending.

        ``expired_only``: only if it is past its expiry at ``now`` (the job's).
        ``audit``: the decision's entries, written with it.
        """
        query: dict = {"_id": approval_id, "status": PENDING}
        if expired_only:
            query["expires_at"] = {"$lte": now}
        return self._set(
            query,
            {"status": status, "decided_by": decided_by, "decided_at": now,
             "reason": reason},
            audit,
        )  # fmt: skip

    def start_approving(
        self,
        approval_id: ObjectId,
        decided_by: str,
        now: datetime,
        token: ObjectId,
        until: datetime,
    ) -> dict | None:
        """Move a pending approval, not past its expiry, to approving under a
        lease; None if it was not pending (or had expired)."""
        return self._set(
            {"_id": approval_id, "status": PENDING, "expires_at": {"$gt": now}},
            {"status": APPROVING, "decided_by": decided_by, "decided_at": now,
             "lease": {"token": token, "until": until}},
        )  # fmt: skip

    def take_over(
        self, approval_id: ObjectId, token: ObjectId, now: datetime, until: datetime
    ) -> dict | None:
        """Take the lease of an approving approval whose lease ran out at ``now``."""
        return self._set(
            {"_id": approval_id, "status": APPROVING, "lease.until": {"$lt": now}},
            {"lease": {"token": token, "until": until}},
        )

    def finish(
        self,
        approval_id: ObjectId,
        token: ObjectId | None,
        status: str,
        changes: dict,
        audit: list[dict] | None = None,
    ) -> dict | None:
        """Record an approving approval's outcome (with its audit entries); None
        if it is not approving any more, or (given ``token``) the lease is not
        ours."""
        query: dict = {"_id": approval_id, "status": APPROVING}
        if token is not None:
            query["lease.token"] = token
        return self._set(query, {"status": status, "lease": None, **changes}, audit)

    def expired_pending(self, now: datetime) -> list[dict]:
        """Return the pending approvals past their expiry at ``now``."""
        return list(
            self.collection.find({"status": PENDING, "expires_at": {"$lte": now}})
        )

    def stale_approving(self, now: datetime) -> list[dict]:
        """Return the approving approvals whose lease ran out at ``now``."""
        return list(
            self.collection.find({"status": APPROVING, "lease.until": {"$lt": now}})
        )

    def count_due(self, now: datetime) -> int:
        """Count the approvals the job has to expire or finish at ``now``."""
        expired = self.collection.count_documents(
            {"status": PENDING, "expires_at": {"$lte": now}}
        )
        stale = self.collection.count_documents(
            {"status": APPROVING, "lease.until": {"$lt": now}}
        )
        return expired + stale

    def _set(
        self, query: dict, changes: dict, audit: list[dict] | None = None
    ) -> dict | None:
        return self.collection.find_one_and_update(
            query,
            carrying({"$set": {**changes, "updated_at": utc_now()}}, audit or []),
            return_document=ReturnDocument.AFTER,
        )
