"""Ledger operations: settle one movement, recover all, reconcile."""

from datetime import timedelta

from bson import ObjectId
from flask import current_app

from app.controllers.customer import movement_body, record_movement
from app.models import ledger, reconciliation, utc_now
from app.models.audit import AuditModel
from app.models.transaction import TransactionModel
from app.schemas.ops import ledger_report_schema

# How far back start-up recovery looks for movements without an audit entry.
AUDIT_RECOVERY_WINDOW = timedelta(hours=1)


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

    Then write the audit entry of every movement whose request died before
    writing it: the ones recovery just found posted, and any posted within the
    last AUDIT_RECOVERY_WINDOW (a request without an Idempotency-Key that died
    between its last ledger write and its audit entry leaves no other trace).
    """
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    counts = ledger.recover(timeout)
    for movement_id in dict.fromkeys(counts.pop("posted")):
        entries = ledger.settle(movement_id)  # posted: returns its entries
        if entries:
            record_movement(entries, actor=entries[0]["username"], recovered=True)
    now = utc_now()
    # Movements younger than the timeout may belong to requests still running.
    window_start = now - AUDIT_RECOVERY_WINDOW
    audited = AuditModel().movements_since(window_start)
    posted = TransactionModel().movements_posted_between(window_start, now - timeout)
    for entry in posted:
        if str(entry["transfer_id"] or entry["_id"]) not in audited:
            record_movement([entry], actor=entry["username"], recovered=True)
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
