"""Deposits and withdrawals: validate, run the use case, render the movement."""

from flask import current_app

from app.controllers import caller, spending_rules
from app.core import movements, spending
from app.core.movements import Deposit, Movement, MovementKey, Withdrawal
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


def withdraw(user: dict, payload: object, key: MovementKey | None = None) -> dict:
    """Debit the caller's account if the balance covers it; render it.

    :raises ValidationError: a bad amount, description or account number.
    :raises DomainError: see :func:`app.core.spending.withdraw`.
    """
    data = amount_schema.load(payload)
    movement = spending.withdraw(
        caller(user),
        Withdrawal(data["amount_cents"], data["account_number"], data["description"]),
        spending_rules(),
        key=key,
    )
    return render_movement(movement)

