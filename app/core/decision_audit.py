"""Audit entries of decisions, each in the log exactly once, even after a crash.

A decision's entry is built before the decision's write and travels in it
(``app.models.audit_outbox``): the use case builds it with :func:`entry`, hands
it to the model's guarded update, then :func:`deliver`-s it; the job runner
:func:`drain`-s whatever a stopped request left on its document. Both append
insert-once by the entry's ``_id``, so the log holds each decision once, with
the actor the decision recorded and the address and request id of the request
that made it (none for the job's own decisions, such as an expiry).
"""

from app.core.movements import Caller
from app.models.audit import AuditModel
from app.models.audit_outbox import FIELD, AuditOutbox


def entry(
    action: str,
    *,
    actor: str | None,
    target: object,
    details: dict | None = None,
    origin: Caller | dict | None = None,
) -> dict:
    """Build (not write) the audit entry of a decision by ``actor``.

    ``origin``: the request the decision came in, for its address and id: the
    caller, or what a document kept of it (``Caller.origin``); None: the job's.
    """
    if isinstance(origin, Caller):
        origin = origin.origin
    return AuditModel().build(
        action,
        actor=actor,
        target=str(target),
        ip=(origin or {}).get("ip"),
        request_id=(origin or {}).get("request_id"),
        details=details,
    )


def deliver(entries: list[dict]) -> int:
    """Append built entries to the log unless they are there; count the new ones."""
    return AuditModel().append_once(list(entries))


def drain(model: AuditOutbox) -> int:
    """Deliver every entry still on ``model``'s documents, then take it off them.

    Return how many reached the log only now (their request stopped first).
    """
    delivered = 0
    for doc in model.audit_due():
        entries = doc.get(FIELD) or []
        delivered += deliver(entries)
        model.audit_delivered(doc["_id"], [item["_id"] for item in entries])
    return delivered
