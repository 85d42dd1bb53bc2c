"""Ledger operations: settle one movement, recover all, reconcile."""

from bson import ObjectId
from flask import current_app

from app.controllers.customer import movement_body
from app.models import ledger, reconciliation, utc_now
from app.schemas.ops import ledger_report_schema


def settle_movement(movement_id: ObjectId) -> dict | None:
    """Finish or undo one movement; return the response it earned, or None.

    None means no money moved, so a retry of its request may run afresh.
    """
    entries = ledger.settle(movement_id)
    return movement_body(entries) if entries else None


def recover() -> dict:
    """Settle every movement pending past LEDGER_PENDING_TIMEOUT; return counts."""
    return ledger.recover(current_app.config["LEDGER_PENDING_TIMEOUT"])


def check_report() -> dict:
    """Reconcile every balance with the journal; return the report.

    ``ok`` is false when any problem is listed.
    """
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    report = reconciliation.check(utc_now() - timeout)
    return ledger_report_schema.dump(
        {**report, "currency": current_app.config["CURRENCY"]}
    )
