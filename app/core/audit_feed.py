"""The audit entries of money movements, derived from the journal.

A movement's request writes the journal and nothing else; the audit log's entry
of each posted movement is written from its journal entry by :func:`catch_up`,
a sweep over the movements posted since the feed's position. So an entry can be
late but never lost, and never doubled: it is keyed by the movement id, and a
second insert of it (another sweep, a retry) is a duplicate the log ignores.

The position never passes a movement still to be journalled: it moves to the
sweep's time or to the start of the oldest movement whose record is still on
its account, whichever is earlier (an entry's posting time is taken before
its insert, and its record released after it, so a request that stalls in
between lands an entry "in the past", but never before that start). The
sweep re-reads ``overlap`` before its position on top, for clocks that differ
between processes.

Runs at start-up and in ``flask ledger recover`` (after recovery), in ``flask
audit seal`` (before sealing), and before the audit log is read.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import islice

from app.models import ledger_recovery, utc_now
from app.models.audit import AuditModel
from app.models.feed import FeedModel
from app.models.transaction import TransactionModel

FEED = "audit_movements"
# The audit action of each kind of movement, by the type of its (out) entry.
ACTIONS = {
    "deposit": "deposit",
    "withdrawal": "withdrawal",
    "transfer_out": "transfer",
    "interest": "interest_charged",
}
BATCH = 500


def catch_up(overlap: timedelta, now: datetime | None = None) -> int:
    """Write the audit entry of every movement posted since the feed's position.

    Return how many were written now.
    """
    audit = AuditModel()

    def write(batch: list[dict], _until: datetime) -> int:
        have = audit.movements_among([entry["_id"] for entry in batch])
        return audit.append_once(
            [movement_entry(entry) for entry in batch if entry["_id"] not in have]
        )

    return sweep_journal(FEED, overlap, write, now)


def sweep_journal(
    feed: str,
    overlap: timedelta,
    derive: Callable[[list[dict], datetime], int],
    now: datetime | None = None,
) -> int:
    """Give the movements posted since feed ``feed``'s position to ``derive``.

    In batches of BATCH, each with the time the sweep reads up to; then move
    the position as this module's docstring says (any feed derived from the
    journal shares these rules). Return the sum of what ``derive`` returned.
    """
    until = now or utc_now()
    feeds = FeedModel()
    since = feeds.position(feed) - overlap
    posted = iter(TransactionModel().movements_posted_between(since, until))
    derived = 0
    while batch := list(islice(posted, BATCH)):
        derived += derive(batch, until)
    pending = ledger_recovery.oldest_unjournalled()
    feeds.advance(feed, until if pending is None else min(until, pending))
    return derived


def movement_entry(entry: dict) -> dict:
    """The audit entry of the movement whose (first) journal entry is ``entry``."""
    origin = entry.get("origin") or {}
    details: dict = {
        "movement_id": str(entry["_id"]),
        "amount_cents": entry["amount_cents"],
    }
    if entry["type"] == "transfer_out":
        details["to_account_number"] = entry["counterparty_account_number"]
    if entry.get("recovered"):
        details["recovered"] = True
    return AuditModel().build(
        ACTIONS[entry["type"]],
        # No origin: the bank's own movement (the job runner, a script).
        actor=origin.get("actor"),
        target=entry["account_number"],
        ip=origin.get("ip"),
        request_id=origin.get("request_id"),
        details=details,
        # When the money moved, so the log reads in order; the sealer covers an
        # entry that lands with an older time in its next seal.
        at=entry["posted_at"],
        entry_id=entry["_id"],
    )
