"""The audit outbox: a decision's audit entry written in the decision's own update.

A decision (an approval's outcome, a loan's, a review's close) is one guarded
update of one document. Its audit entry, built beforehand with its ``_id``
fixed (``AuditModel.build``), rides in that same update: :func:`carrying` adds
``$push: {audit_due: entry}`` to it, so the decision and the duty to audit it
land together or not at all (the transactional outbox). The entry is then
appended to the log insert-once, by the request and by the job runner's
:meth:`AuditOutbox.audit_due` sweep alike, and taken off its document only
after it is in the log (:meth:`AuditOutbox.audit_delivered`). A process that
dies anywhere leaves the entry in the log, on its document, or both: never
lost, and never logged twice (a second insert of its ``_id`` is a duplicate,
ignored).

The models whose documents carry entries mix :class:`AuditOutbox` in and call
:meth:`AuditOutbox.ensure_outbox_index` from their ``ensure_indexes``.
"""

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING

# The field holding the entries still to be delivered to the audit log.
FIELD = "audit_due"
# What a document with entries to deliver matches (and the partial index holds).
DUE = {f"{FIELD}._id": {"$exists": True}}


def carrying(update: dict, entries: list[dict]) -> dict:
    """Return ``update`` that also pushes ``entries`` onto the document."""
    if not entries:
        return update
    return {**update, "$push": {FIELD: {"$each": list(entries)}}}


class AuditOutbox:
    """The outbox queries of a model whose ``collection`` carries audit entries."""

    collection: Any

    def ensure_outbox_index(self) -> None:
        """The few documents with entries still to deliver (a partial index)."""
        self.collection.create_index(
            [(f"{FIELD}._id", ASCENDING)],
            name=f"{FIELD}_pending",
            partialFilterExpression=DUE,
        )

    def audit_due(self, limit: int = 500) -> list[dict]:
        """Documents with audit entries not yet taken off them (at most ``limit``)."""
        return list(self.collection.find(DUE, {FIELD: 1}, limit=limit))

    def audit_delivered(self, doc_id: ObjectId, entry_ids: list[ObjectId]) -> None:
        """Take entries that are in the audit log off their document."""
        self.collection.update_one(
            {"_id": doc_id}, {"$pull": {FIELD: {"_id": {"$in": entry_ids}}}}
        )
