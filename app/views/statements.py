"""Blueprint statements: an account's months and monthly statements (JSON, CSV,
PDF), for its owner and, under /banker, for staff."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import statements
from app.http import file_or_json, query_args
from app.openapi import operation
from app.schemas.statement import (
    StatementArgsSchema,
    StatementMonthPageSchema,
    StatementMonthsArgsSchema,
    StatementSchema,
)
from app.security import roles_required

bp = Blueprint(
    "statements",
    __name__,
    description="Monthly statements of an account (months in BANK_TIMEZONE): "
    "opening + credits - debits = closing, exactly; as JSON, CSV or PDF. "
    "Customers read their own accounts' (closed ones too), staff any account's.",
)

FILES = ("text/csv", "application/pdf")
OWN = {404: "No such account of the caller's (`account_not_found`)."}
ANY = {404: "No such account (`account_not_found`)."}
OWN_ACCOUNT = "No such account of the caller's"
MONTH = {
    404: "No such account (`account_not_found`), or the month has not begun or "
    "ended before the account was opened (`statement_not_found`).",
    422: "A month not written YYYY-MM, or an unknown format (`validation_error`).",
}


@bp.get("/accounts/<account_number>/statements")
@operation(
    bp, 200, StatementMonthPageSchema, query=StatementMonthsArgsSchema, errors=OWN
)
@roles_required("customer")
def list_months(account_number: str):
    """List the months with activity on one of the caller's accounts, newest first."""
    return statements.list_months(current_user, account_number, query_args()), 200


@bp.get("/accounts/<account_number>/statements/<month>")
@operation(
    bp, 200, StatementSchema, query=StatementArgsSchema, files=FILES,
    errors={**MONTH, 404: MONTH[404].replace("No such account", OWN_ACCOUNT)},
)  # fmt: skip
@roles_required("customer")
def get_statement(account_number: str, month: str):
    """Show a month's statement of one of the caller's accounts (to date for the
    current month)."""
    return file_or_json(
        statements.get_statement(current_user, account_number, month, query_args())
    )


@bp.get("/banker/accounts/<account_number>/statements")
@operation(
    bp, 200, StatementMonthPageSchema, query=StatementMonthsArgsSchema, errors=ANY
)
@roles_required("banker", "auditor")
def list_months_for_staff(account_number: str):
    """List the months with activity on any account, newest first."""
    return statements.list_months(None, account_number, query_args()), 200


@bp.get("/banker/accounts/<account_number>/statements/<month>")
@operation(
    bp, 200, StatementSchema, query=StatementArgsSchema, files=FILES, errors=MONTH
)
@roles_required("banker", "auditor")
def get_statement_for_staff(account_number: str, month: str):
    """Show a month's statement of any account."""
    return file_or_json(
        statements.get_statement(None, account_number, month, query_args())
    )
