"""Transfers: validate, run the use case, render the transfer."""

from flask import current_app

from app.controllers import caller
from app.controllers.movements import render_movement
from app.core import movements
from app.core.movements import MovementKey, TransferOrder
from app.schemas.transaction import transfer_schema


def transfer(user: dict, payload: object, key: MovementKey | None = None) -> dict:
    """Move money from one of the caller's accounts to any active account.

    :raises ValidationError: a bad amount or number.
    :raises DomainError: see :func:`app.core.movements.transfer`.
    """
    data = transfer_schema.load(payload)
    order = TransferOrder(
        to_account_number=data["to_account_number"],
        cents=data["amount_cents"],
        from_account_number=data["from_account_number"],
        description=data["description"],
    )
    movement = movements.transfer(
        caller(user),
        order,
        currency=current_app.config["CURRENCY"],
        key=key,
    )
    return render_movement(movement)
