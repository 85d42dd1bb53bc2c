"""LeaseModel: the leases collection, one named lease per single-runner job.

A lease lets at most one process at a time do a job (the audit sealer; later
the job runner's work) without any in-process lock: it is one document per
name, ``{_id: name, holder, expires_at}``, taken and renewed by one guarded
update. A holder that dies simply stops renewing, and the lease is free again
when it expires. Leases make a job efficient, not correct: clocks differ
between machines, so a job must stay correct even if two holders overlap.
"""

from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import get_db
from app.models import EPOCH


class LeaseModel:
    """Named, expiring leases: take, renew and give back."""

    @property
    def collection(self) -> Any:
        return get_db()["leases"]

    def acquire(
        self, name: str, holder: str, ttl: timedelta, now: datetime
    ) -> dict | None:
        """Take or renew lease ``name`` for ``holder`` until ``now + ttl``.

        Return the lease, or None while another holder's lease is unexpired.
        """
        try:
            return self.collection.find_one_and_update(
                {
                    "_id": name,
                    "$or": [{"holder": holder}, {"expires_at": {"$lte": now}}],
                },
                {"$set": {"holder": holder, "expires_at": now + ttl}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # The filter missed an existing lease, so the upsert tried to insert
            # a second document with its name: someone else holds it.
            return None

    def release(self, name: str, holder: str) -> None:
        """Give lease ``name`` back at once, if ``holder`` still holds it."""
        self.collection.update_one(
            {"_id": name, "holder": holder}, {"$set": {"expires_at": EPOCH}}
        )
