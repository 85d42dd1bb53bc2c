"""Scheduled transfers and daily limits: validate, run the use case, render."""

from flask import current_app

from app import audit
from app.controllers import daily_limits
from app.core import limits, scheduled_transfers
from app.core.calendar import bank_day
from app.core.scheduled_transfers import StandingOrder
from app.core.schedules import Recurrence
from app.models import utc_now
from app.schemas.common import PageArgsSchema, page
from app.schemas.scheduled import (
    limits_schema,
    place_order_schema,
    run_schema,
    scheduled_transfer_schema,
    set_limit_schema,
)

_page_args = PageArgsSchema()
# The audit action of each move of an order (scheduled_transfer_paused, ...).
MOVED = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


def _today():
    return bank_day(utc_now(), current_app.config["BANK_TIMEZONE"])


def place_order(user: dict, payload: object) -> dict:
    """Place a standing order for the caller; render it.

    :raises ValidationError: bad input.
    :raises DomainError: see :func:`app.core.scheduled_transfers.place`.
    """
    data = place_order_schema.load(payload)
    recurrence = data["recurrence"]
    order = StandingOrder(
        cents=data["amount_cents"],
        start_date=data["start_date"],
        to_account_number=data["to_account_number"],
        payee_id=data["payee_id"],
        from_account_number=data["from_account_number"],
        description=data["description"],
        recurrence=Recurrence(**recurrence) if recurrence else None,
    )
    placed = scheduled_transfers.place(
        user, order, currency=current_app.config["CURRENCY"], today=_today()
    )
    audit.record(
        "scheduled_transfer_placed",
        actor=user["username"],
        target=placed["_id"],
        details={
            "amount_cents": placed["amount_cents"],
            "from_account_number": placed["from_account_number"],
            "to_account_number": placed["to_account_number"],
            "start_date": placed["start_date"],
        },
    )
    return scheduled_transfer_schema.dump(placed)


def list_orders(user: dict, args: dict) -> dict:
    """Return a page of the caller's standing orders, newest first."""
    query = _page_args.load(args)
    docs, more = scheduled_transfers.list_orders(user, query["limit"], query["cursor"])
    return page(scheduled_transfer_schema.dump(docs, many=True), docs, more)


def get_order(user: dict, order_id: str) -> dict:
    """Return one of the caller's standing orders."""
    return scheduled_transfer_schema.dump(scheduled_transfers.get(user, order_id))


def list_runs(user: dict, order_id: str, args: dict) -> dict:
    """Return a page of one of the caller's orders' runs, newest first."""
    query = _page_args.load(args)
    docs, more = scheduled_transfers.list_runs(
        user, order_id, query["limit"], query["cursor"]
    )
    return page(run_schema.dump(docs, many=True), docs, more)


def change_order(user: dict, order_id: str, move: str) -> dict:
    """Pause, resume or cancel one of the caller's orders; render it."""
    changed = scheduled_transfers.change(user, order_id, move, today=_today())
    audit.record(
        f"scheduled_transfer_{MOVED[move]}",
        actor=user["username"],
        target=changed["_id"],
        details={"status": changed["status"]},
    )
    return scheduled_transfer_schema.dump(changed)


def get_limits(user: dict) -> dict:
    """Return the caller's daily limit and what is left of it today."""
    shown = limits.status(user, daily_limits())
    return limits_schema.dump({**shown, "currency": current_app.config["CURRENCY"]})


def set_own_limit(user: dict, payload: object) -> dict:
    """Lower the caller's daily limit (or raise it back up to the bank's).

    :raises ValidationError: a bad amount, or one above the bank's limit.
    """
    cents = set_limit_schema.load(payload)["daily_limit_cents"]
    return get_limits(change_limit(user, user, cents, by_banker=False))


def change_limit(actor: dict, user: dict, cents: int, *, by_banker: bool) -> dict:
    """Set ``user``'s daily limit on ``actor``'s word, audited; return the user.

    The one door for both: a customer's own change and a banker's.

    :raises DomainError: see :func:`app.core.limits.set_limit`.
    """
    updated = limits.set_limit(user, cents, daily_limits(), by_banker=by_banker)
    audit.record(
        "daily_limit_changed",
        actor=actor["username"],
        target=user["_id"],
        details={
            "username": user["username"],
            "from_cents": user.get("daily_limit_cents"),
            "to_cents": updated.get("daily_limit_cents"),
        },
    )
    return updated
