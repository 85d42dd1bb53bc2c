"""Ledger operations of the edge: the reconciliation report."""

from flask import current_app

from app.models import reconciliation, utc_now
from app.schemas.ops import ledger_report_schema


def check_report() -> dict:
    """Reconcile every balance with the journal; return the report.

    ``ok`` is false when any problem is listed.
    """
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    report = reconciliation.check(utc_now() - timeout)
    return ledger_report_schema.dump(
        {**report, "currency": current_app.config["CURRENCY"]}
    )
