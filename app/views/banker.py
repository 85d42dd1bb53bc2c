"""Blueprint banker: every account and every transaction."""

from flask_smorest import Blueprint

from app.controllers import banker as controller
from app.controllers import ledger as ledger_controller
from app.http import query_args
from app.openapi import operation
from app.schemas.account import BankerAccountArgsSchema, BankerAccountPageSchema
from app.schemas.ops import LedgerReportSchema
from app.schemas.transaction import (
    BankerTransactionArgsSchema,
    BankerTransactionPageSchema,
)
from app.security import roles_required

bp = Blueprint(
    "banker",
    __name__,
    url_prefix="/banker",
    description="Every account and every transaction (role banker).",
)


@bp.get("/accounts")
@operation(bp, 200, BankerAccountPageSchema, query=BankerAccountArgsSchema)
@roles_required("banker")
def list_accounts():
    """List every account."""
    return controller.list_accounts(query_args()), 200


@bp.get("/transactions")
@operation(bp, 200, BankerTransactionPageSchema, query=BankerTransactionArgsSchema)
@roles_required("banker")
def list_transactions():
    """List every transaction."""
    return controller.list_transactions(query_args()), 200


@bp.get("/ledger/check")
@operation(bp, 200, LedgerReportSchema)
@roles_required("banker")
def check_ledger():
    """Reconcile every balance with the journal."""
    return ledger_controller.check_report(), 200
