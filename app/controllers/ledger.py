"""Ledger operations: settle one movement, recover all, reconcile."""

from bson import ObjectId
from flask import current_app

from app.controllers.customer import movement_body, record_movement
from app.models import ledger, reconciliation, utc_now
from app.schemas.ops import ledger_report_schema


def settle_movement(movement_id: ObjectId) -> dict | None:
    """Finish or undo one movement; return the response it earned, or None.

    None means no money moved, so a retry of its request may run afresh.
    """
    entries = ledger.settle(movement_id)
    if not entries:
        return None
    record_movement(entries, actor=entries[0]["username"], recovered=True)
    return movement_body(entries)


def recover() -> dict:
    """Settle every movement pending past LEDGER_PENDING_TIMEOUT; return counts.

    Movements it finds posted get their audit entry if their request died
    before writing it.
    """
    counts = ledger.recover(current_app.config["LEDGER_PENDING_TIMEOUT"])
    for movement_id in dict.fromkeys(counts.pop("posted")):
        entries = ledger.settle(movement_id)  # posted: returns its entries
        if entries:
            record_movement(entries, actor=entries[0]["username"], recovered=True)
    return counts


def check_report() -> dict:
    """Reconcile every balance with the journal; return the report.

    ``ok`` is false when any problem is listed.
    """
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    report = reconciliation.check(utc_now() - timeout)
    return ledger_report_schema.dump(
        {**report, "currency": current_app.config["CURRENCY"]}
    )
