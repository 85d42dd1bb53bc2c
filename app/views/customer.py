"""Blueprint customer: accounts, balance, deposit, withdraw, transfers, history."""

from flask import Blueprint
from flask_jwt_extended import current_user

from app.controllers import customer as controller
from app.http import json_body, query_args
from app.idempotency import idempotent, movement_id
from app.security import roles_required

bp = Blueprint("customer", __name__)


@bp.get("/balance")
@roles_required("customer")
def get_balance():
    """Return the balance of the caller's account."""
    return controller.get_balance(current_user, query_args()), 200


@bp.get("/accounts")
@roles_required("customer")
def list_accounts():
    """List the caller's accounts, newest first."""
    return controller.list_accounts(current_user, query_args()), 200


@bp.post("/accounts")
@roles_required("customer")
def open_account():
    """Open another account for the caller."""
    return controller.open_account(current_user, json_body()), 201


@bp.get("/accounts/<account_number>")
@roles_required("customer")
def get_account(account_number: str):
    """Show one of the caller's accounts."""
    return controller.get_account(current_user, account_number), 200


@bp.post("/deposit")
@roles_required("customer")
@idempotent
def deposit():
    """Deposit money into the caller's account."""
    return controller.deposit(current_user, json_body(), movement_id()), 201


@bp.post("/withdraw")
@roles_required("customer")
@idempotent
def withdraw():
    """Withdraw money from the caller's account."""
    return controller.withdraw(current_user, json_body(), movement_id()), 201


@bp.post("/transfers")
@roles_required("customer")
@idempotent
def transfer():
    """Move money from the caller's account to another account."""
    return controller.transfer(current_user, json_body(), movement_id()), 201


@bp.get("/transactions")
@roles_required("customer")
def list_transactions():
    """List the caller's transactions, newest first."""
    return controller.list_transactions(current_user, query_args()), 200
