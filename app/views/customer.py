"""Blueprint customer: balance, deposit, withdraw, transactions."""

from flask import Blueprint
from flask_jwt_extended import current_user

from app.controllers import customer as controller
from app.http import json_body, query_args
from app.security import roles_required

bp = Blueprint("customer", __name__)


@bp.get("/balance")
@roles_required("customer")
def get_balance():
    """Return the balance of the caller's account."""
    return controller.get_balance(current_user, query_args()), 200


@bp.post("/deposit")
@roles_required("customer")
def deposit():
    """Deposit money into the caller's account."""
    return controller.deposit(current_user, json_body()), 201


@bp.post("/withdraw")
@roles_required("customer")
def withdraw():
    """Withdraw money from the caller's account."""
    return controller.withdraw(current_user, json_body()), 201


@bp.get("/transactions")
@roles_required("customer")
def list_transactions():
    """List the caller's transactions, newest first."""
    return controller.list_transactions(current_user, query_args()), 200
