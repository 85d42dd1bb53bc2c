"""Deposits and withdrawals: validate, run the use case, render the movement."""

from flask import current_app

from app.controllers import approval_rules, caller
from app.core import approvals, movements
from app.core.approvals import Spent
from app.core.movements import Deposit, Movement, MovementKey, Withdrawal
from app.schemas.approval import approval_response_schema
from app.schemas.transaction import (
    amount_schema,
    movement_result_schema,
    transfer_response_schema,
)


def render_movement(movement: Movement) -> dict:
    """Shape the response of a posted movement from its journal entries.

    Used for the live response and for the replay of one that recovery settled,
    so a replayed answer is the one the first request would have sent.
    """
    out = movement.first
    if out["type"] == "transfer_out":
        return transfer_response_schema.dump({**out, "transfer": out})
    return movement_result_schema.dump({**out, "transaction": out})


def render_asked(approval: dict) -> dict:
    """Shape the 202 answer of a movement that waits for a banker's approval.

    Used for the live response and for the replay of a keyed request whose
    approval recovery found (it shows the approval as it is now).
    """
    return approval_response_schema.dump({"approval": approval})


def render_spent(spent: Spent) -> tuple[dict, int]:
    """Answer a withdrawal or transfer: 201 posted, or 202 waiting for a banker."""
    if spent.approval is not None:
        return render_asked(spent.approval), 202
    return render_movement(spent.movement), 201


def deposit(user: dict, payload: object, key: MovementKey | None = None) -> dict:
    """Credit the caller's account and render the transaction.

    :raises ValidationError: a bad amount, description or account number.
    :raises DomainError: see :func:`app.core.movements.deposit`.
    """
    data = amount_schema.load(payload)
    movement = movements.deposit(
        caller(user),
        Deposit(data["amount_cents"], data["account_number"], data["description"]),
        currency=current_app.config["CURRENCY"],
        key=key,
    )
    return render_movement(movement)


def withdraw(
    user: dict, payload: object, key: MovementKey | None = None
) -> tuple[dict, int]:
    """Debit the caller's account if the balance covers it, or ask a banker
    (APPROVAL_THRESHOLD and above); render it with its status.

    :raises ValidationError: a bad amount, description or account number.
    :raises DomainError: see :func:`app.core.approvals.withdraw`.
    """
    data = amount_schema.load(payload)
    spent = approvals.withdraw(
        caller(user),
        Withdrawal(data["amount_cents"], data["account_number"], data["description"]),
        approval_rules(),
        key=key,
    )
    return render_spent(spent)

