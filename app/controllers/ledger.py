"""Ledger operations of the edge: the reconciliation report, the trial balance."""

from flask import current_app

from app.models import reconciliation, utc_now
from app.schemas.ops import ledger_report_schema, ledger_summary_schema


def check_report() -> dict:
    """Reconcile every balance with the journal; return the report.

    ``ok`` is false when any problem is listed.
    """
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    report = reconciliation.check(utc_now() - timeout)
    return ledger_report_schema.dump(
        {**report, "currency": current_app.config["CURRENCY"]}
    )


def summary() -> dict:
    """Return the trial balance: customers, the system accounts, their sum."""
    timeout = current_app.config["LEDGER_PENDING_TIMEOUT"]
    report = reconciliation.check(utc_now() - timeout)
    system = report["system_cents"]
    return ledger_summary_schema.dump(
        {
            "customer_total_cents": report["total_balance_cents"],
            "system_accounts": [
                {"name": name, "balance_cents": cents} for name, cents in system.items()
            ],
            # Money of a transfer between its debit and its credit is counted
            # too, so the total is zero whenever the books balance.
            "total_cents": report["total_balance_cents"]
            + report["in_transit_cents"]
            + sum(system.values()),
            "currency": current_app.config["CURRENCY"],
        }
    )
