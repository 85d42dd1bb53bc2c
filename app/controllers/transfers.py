"""Transfers: validate, run the use case, render the transfer."""

from app.controllers import approval_rules, caller
from app.controllers.movements import render_spent
from app.core import approvals, payees
from app.core.movements import MovementKey, TransferOrder
from app.schemas.transaction import transfer_schema


def transfer(
    user: dict, payload: object, key: MovementKey | None = None
) -> tuple[dict, int]:
    """Move money from one of the caller's accounts to any active account, or
    ask a banker (APPROVAL_THRESHOLD and above, to someone else's account);
    render it with its status.

    :raises ValidationError: a bad amount or number, or not exactly one of
        ``to_account_number`` and ``payee_id``.
    :raises PayeeNotFound: ``payee_id`` is not one of the caller's payees.
    :raises DomainError: see :func:`app.core.approvals.transfer`.
    """
    data = transfer_schema.load(payload)
    order = TransferOrder(
        to_account_number=_target(user, data),
        cents=data["amount_cents"],
        from_account_number=data["from_account_number"],
        description=data["description"],
    )
    spent = approvals.transfer(caller(user), order, approval_rules(), key=key)
    return render_spent(spent)


def _target(user: dict, data: dict) -> str:
    """The account to pay: the number given, or the caller's payee's."""
    if data["payee_id"] is not None:
        return payees.payee_account(user, data["payee_id"])
    return data["to_account_number"]
