"""Blueprint banker: every account and every transaction."""

from flask import Blueprint

from app.controllers import banker as controller
from app.controllers import ledger as ledger_controller
from app.http import query_args
from app.security import roles_required

bp = Blueprint("banker", __name__, url_prefix="/banker")


@bp.get("/accounts")
@roles_required("banker")
def list_accounts():
    """List every account."""
    return controller.list_accounts(query_args()), 200


@bp.get("/transactions")
@roles_required("banker")
def list_transactions():
    """List every transaction."""
    return controller.list_transactions(query_args()), 200


@bp.get("/ledger/check")
@roles_required("banker")
def check_ledger():
    """Reconcile every balance with the journal."""
    return ledger_controller.check_report(), 200
