"""Recovery: finish or undo movements whose request stopped, and audit them.

Returns domain results (the posted movement, or None when nothing moved); the
edge renders them. Used at start-up, by ``flask ledger recover``, by the retry
of an Idempotency-Key whose first request died, and by the job runner.
"""

from datetime import timedelta

from bson import ObjectId

from app.core.movements import Movement, audit_movement
from app.models import ledger, utc_now
from app.models.audit import AuditModel
from app.models.transaction import TransactionModel

# How far back recovery looks for movements without an audit entry.
AUDIT_RECOVERY_WINDOW = timedelta(hours=1)


def settle_movement(movement_id: ObjectId) -> Movement | None:
    """Finish or undo one movement; return it if it moved, else None.

    None means no money moved, so a retry of its request may run afresh.
    """
    entries = ledger.settle(movement_id)
    if not entries:
        return None
    movement = Movement(tuple(entries))
    audit_movement(movement, actor=entries[0]["username"], recovered=True)
    return movement


def recover(timeout: timedelta) -> dict:
    """Settle every movement pending longer than ``timeout``; return counts.

    Then write the audit entry of every movement whose request died before
    writing it: the ones recovery just found posted, and any posted within the
    last AUDIT_RECOVERY_WINDOW (a request without an Idempotency-Key that died
    between its last ledger write and its audit entry leaves no other trace).
    """
    counts = ledger.recover(timeout)
    for movement_id in dict.fromkeys(counts.pop("posted")):
        settle_movement(movement_id)  # posted: audits it if it has no entry
    now = utc_now()
    # Movements younger than the timeout may belong to requests still running.
    window_start = now - AUDIT_RECOVERY_WINDOW
    audited = AuditModel().movements_since(window_start)
    posted = TransactionModel().movements_posted_between(window_start, now - timeout)
    for entry in posted:
        if str(entry["transfer_id"] or entry["_id"]) not in audited:
            audit_movement(Movement((entry,)), actor=entry["username"], recovered=True)
    return counts


def posted_movement(movement_id: ObjectId) -> Movement | None:
    """Read a posted movement back from the journal (two look-ups by id)."""
    journal = TransactionModel()
    first = journal.find_entry(movement_id)
    if first is None or first["status"] != "posted":
        return None
    if first["pair_id"] is None:
        return Movement((first,))
    pair = journal.find_entry(first["pair_id"])
    return Movement((first, pair)) if pair is not None else None
