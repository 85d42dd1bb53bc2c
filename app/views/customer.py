"""Blueprint customer: accounts, balance, deposit, withdraw, transfers, history."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import accounts, movements, transactions, transfers
from app.http import json_body, query_args
from app.idempotency import movement_key
from app.openapi import RATE_LIMITED, operation
from app.schemas.account import (
    AccountPageSchema,
    AccountSchema,
    BalanceArgsSchema,
    BalanceSchema,
    OpenAccountSchema,
)
from app.schemas.approval import ApprovalResponseSchema
from app.schemas.common import PageArgsSchema
from app.schemas.transaction import (
    AmountSchema,
    MovementResultSchema,
    TransactionListArgsSchema,
    TransactionPageSchema,
    TransferResponseSchema,
    TransferSchema,
)
from app.security import roles_required
from app.views.money import money_route

bp = Blueprint(
    "customer",
    __name__,
    description="The caller's accounts, money movements and history (role customer).",
)

NOT_OWN = {404: "No such account of the caller's (`account_not_found`)."}
# What a money movement can run into besides bad input.
MOVEMENT_ERRORS = {
    404: "No such account of the caller's, no such target (`account_not_found`), "
    "or, for a transfer, no such payee of the caller's (`payee_not_found`).",
    409: "An account is frozen or closed (`account_frozen`, `account_closed`), "
    "the balance is too low (`insufficient_funds`), the money leaving the "
    "customer would pass their daily limit (`daily_limit_exceeded`), or a "
    "request with this Idempotency-Key is still running "
    "(`idempotency_in_progress`).",
    422: "Invalid input (`validation_error`), or the Idempotency-Key was used "
    "with a different request (`idempotency_key_reused`).",
    503: "The database does not answer (`database_unavailable`) or the account "
    "is too busy (`ledger_busy`); nothing moved, a retry with the key is safe.",
    **RATE_LIMITED,
}
# The 202 of a large withdrawal or transfer to someone else (maker-checker).
ASKED = (
    ApprovalResponseSchema,
    "At least APPROVAL_THRESHOLD (to someone else's account, for a transfer): "
    "nothing moved yet. The amount is reserved on the source (its "
    "`available_balance` drops, its `balance` does not) until a banker decides; "
    "follow it with GET /approvals.",
)


def moves_money(response: type, body: type, example: dict, accepted=None):
    """A money-moving view of this blueprint (see app.views.money)."""
    return money_route(
        bp, 201, response, body=body, example=example, errors=MOVEMENT_ERRORS,
        accepted=accepted,
    )  # fmt: skip


@bp.get("/balance")
@operation(bp, 200, BalanceSchema, query=BalanceArgsSchema, errors=NOT_OWN)
@roles_required("customer")
def get_balance():
    """Return the balance of the caller's account."""
    return accounts.get_balance(current_user, query_args()), 200


@bp.get("/accounts")
@operation(bp, 200, AccountPageSchema, query=PageArgsSchema)
@roles_required("customer")
def list_accounts():
    """List the caller's accounts, newest first."""
    return accounts.list_accounts(current_user, query_args()), 200


@bp.post("/accounts")
@operation(
    bp,
    201,
    AccountSchema,
    body=OpenAccountSchema,
    errors={
        409: "The caller holds the most accounts allowed (`account_limit_reached`)."
    },  # fmt: skip
    example={"kind": "savings"},
)
@roles_required("customer")
def open_account():
    """Open another account for the caller."""
    return accounts.open_account(current_user, json_body()), 201


@bp.get("/accounts/<account_number>")
@operation(bp, 200, AccountSchema, errors=NOT_OWN)
@roles_required("customer")
def get_account(account_number: str):
    """Show one of the caller's accounts."""
    return accounts.get_account(current_user, account_number), 200


@bp.post("/deposit")
@moves_money(
    MovementResultSchema,
    AmountSchema,
    example={"amount": "125.50", "description": "Salary"},
)
def deposit():
    """Deposit money into the caller's account."""
    return movements.deposit(current_user, json_body(), movement_key()), 201


@bp.post("/withdraw")
@moves_money(
    MovementResultSchema,
    AmountSchema,
    example={"amount": "20.00", "description": "Cash"},
    accepted=ASKED,
)
def withdraw():
    """Withdraw money from the caller's account (a large amount waits for a banker)."""
    return movements.withdraw(current_user, json_body(), movement_key())


@bp.post("/transfers")
@moves_money(
    TransferResponseSchema,
    TransferSchema,
    example={"to_account_number": "4817302955", "amount": "10.00"},
    accepted=ASKED,
)
def transfer():
    """Move money to another account (a large amount to others waits for a banker)."""
    return transfers.transfer(current_user, json_body(), movement_key())


@bp.get("/transactions")
@operation(
    bp, 200, TransactionPageSchema, query=TransactionListArgsSchema, errors=NOT_OWN
)
@roles_required("customer")
def list_transactions():
    """List the caller's transactions, newest first."""
    return transactions.list_transactions(current_user, query_args()), 200
