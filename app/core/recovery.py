"""Recovery: finish or undo movements whose request stopped.

Returns domain results (the posted movement, or None when nothing moved); the
edge renders them. Used at start-up, by ``flask ledger recover``, by the retry
of an Idempotency-Key whose first request died, and by the job runner. The audit
entries of what it finishes come from the journal (``app.core.audit_feed``).
"""

from datetime import timedelta

from bson import ObjectId

from app.core import audit_feed
from app.core.movements import Movement
from app.models import ledger_recovery
from app.models.transaction import TransactionModel


def settle_movement(movement_id: ObjectId) -> Movement | None:
    """Finish or undo one movement; return it if it moved, else None.

    None means no money moved, so a retry of its request may run afresh.
    """
    entries = ledger_recovery.settle(movement_id)
    return Movement(tuple(entries)) if entries else None


def recover(timeout: timedelta) -> dict:
    """Settle every movement stopped longer than ``timeout``; return counts.

    (Their audit entries come with the next :func:`audit_movements`.)
    """
    counts = ledger_recovery.recover(timeout)
    counts.pop("posted")
    return counts


def audit_movements(timeout: timedelta) -> int:
    """Bring the audit log up to the journal; count the entries written now."""
    return audit_feed.catch_up(feed_overlap(timeout))


def feed_overlap(timeout: timedelta) -> timedelta:
    """How far back the audit feed re-reads (see app.core.audit_feed)."""
    return 2 * timeout + timedelta(minutes=1)


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
