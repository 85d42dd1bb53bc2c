"""Blueprint loans: loan products, applications, decisions, disbursement, repayment."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import loans
from app.http import json_body, query_args
from app.idempotency import idempotent, movement_key, request_claim
from app.openapi import RATE_LIMITED, operation
from app.schemas.loan import (
    ApplicationResultSchema,
    ApplicationSchema,
    BankerLoanListArgsSchema,
    BankerLoanPageSchema,
    BankerLoanSchema,
    LoanListArgsSchema,
    LoanPageSchema,
    LoanSchema,
    NewProductSchema,
    ProductListArgsSchema,
    ProductPageSchema,
    ProductSchema,
    RejectSchema,
    RepaymentResultSchema,
    RepaymentSchema,
    ScheduleSchema,
)
from app.security import roles_required
from app.views.money import money_route

bp = Blueprint(
    "loans",
    __name__,
    description="Loans: products (bankers create them), applications and "
    "repayments (customers), decisions and disbursement (bankers); staff read "
    "every loan, auditors change nothing.",
)

NOT_FOUND = {404: "No such loan, or another customer's (`loan_not_found`)."}
STATE = {
    **NOT_FOUND,
    409: "The loan's state does not allow that (`invalid_state`).",
}


@bp.post("/banker/loan-products")
@operation(
    bp, 201, ProductSchema, body=NewProductSchema,
    errors={422: "Invalid terms (`validation_error`), a minimum above its maximum "
            "among them."},
    example={
        "name": "Personal loan", "annual_rate": "12.00", "min_amount": "500.00",
        "max_amount": "25000.00", "min_term_months": 6, "max_term_months": 60,
    },
)  # fmt: skip
@roles_required("banker")
def create_product():
    """Add a loan product: its rate and the bounds of amount and term."""
    return loans.create_product(current_user, json_body()), 201


@bp.get("/loan-products")
@operation(bp, 200, ProductPageSchema, query=ProductListArgsSchema)
@roles_required()
def list_products():
    """List the loan products, newest first (`active=true`: those on offer)."""
    return loans.list_products(query_args()), 200


@bp.post("/loans")
@operation(
    bp, 201, ApplicationResultSchema, body=ApplicationSchema,
    errors={
        404: "The disbursement account is not one of the caller's "
        "(`account_not_found`).",
        422: "Invalid input (`validation_error`): among others no such product "
        "on offer, or an amount or term outside the product's bounds.",
    },
    example={"product_id": "6650f0c2a1b2c3d4e5f60789", "amount": "1000.00",
             "term_months": 12, "purpose": "A new bicycle"},
)  # fmt: skip
@roles_required("customer")
def apply():
    """Apply for a loan; the answer shows the schedule it would have if
    disbursed today."""
    return loans.apply(current_user, json_body()), 201


@bp.get("/loans")
@operation(bp, 200, LoanPageSchema, query=LoanListArgsSchema)
@roles_required("customer")
def list_loans():
    """List the caller's loans and applications, newest first."""
    return loans.list_own(current_user, query_args()), 200


@bp.get("/loans/<loan_id>")
@operation(bp, 200, LoanSchema, errors=NOT_FOUND)
@roles_required("customer", "banker", "auditor")
def get_loan(loan_id: str):
    """Show one loan: what is owed, the next instalment, days past due."""
    return loans.get(current_user, loan_id), 200


@bp.get("/loans/<loan_id>/schedule")
@operation(bp, 200, ScheduleSchema, errors=NOT_FOUND)
@roles_required("customer", "banker", "auditor")
def get_schedule(loan_id: str):
    """Show a loan's schedule: each instalment, what is paid of it, its status."""
    return loans.schedule(current_user, loan_id), 200


@bp.post("/loans/<loan_id>/withdraw")
@operation(bp, 200, LoanSchema, errors=STATE)
@roles_required("customer")
def withdraw(loan_id: str):
    """Withdraw an application not yet disbursed."""
    return loans.withdraw(current_user, loan_id), 200


@bp.post("/loans/<loan_id>/repayments")
@money_route(
    bp, 201, RepaymentResultSchema, body=RepaymentSchema, example={"amount": "88.85"},
    errors={
        404: "No such loan of the caller's (`loan_not_found`), or the account "
        "is not one of the caller's (`account_not_found`).",
        409: "More than is owed (`overpayment`), the loan is not active "
        "(`invalid_state`), the balance is too low (`insufficient_funds`), an "
        "account is frozen or closed, or a request with this Idempotency-Key is "
        "still running (`idempotency_in_progress`).",
        422: "Invalid input (`validation_error`), or the Idempotency-Key was used "
        "with a different request (`idempotency_key_reused`).",
        503: "The database does not answer (`database_unavailable`) or the account "
        "is too busy (`ledger_busy`); nothing moved, a retry with the key is safe.",
        **RATE_LIMITED,
    },
    render=loans.render_repayment,
)  # fmt: skip
def repay(loan_id: str):
    """Repay some or all of a loan from one of the caller's accounts (default
    primary); early repayment lowers the interest charged later."""
    return loans.repay(current_user, loan_id, json_body(), movement_key()), 201


@bp.get("/banker/loans")
@operation(bp, 200, BankerLoanPageSchema, query=BankerLoanListArgsSchema)
@roles_required("banker", "auditor")
def list_all():
    """List every customer's loans, newest first; filter by status, or
    `overdue=true` for active loans with an instalment past due."""
    return loans.list_all(query_args()), 200


@bp.post("/banker/loans/<loan_id>/approve")
@operation(bp, 200, BankerLoanSchema, errors=STATE)
@roles_required("banker")
def approve(loan_id: str):
    """Approve a submitted application."""
    return loans.approve(current_user, loan_id), 200


@bp.post("/banker/loans/<loan_id>/reject")
@operation(bp, 200, BankerLoanSchema, body=RejectSchema, errors=STATE,
           example={"reason": "Income too low for the amount."})  # fmt: skip
@roles_required("banker")
def reject(loan_id: str):
    """Reject a submitted application, optionally saying why."""
    return loans.reject(current_user, loan_id, json_body()), 200


@bp.post("/banker/loans/<loan_id>/disburse")
@operation(
    bp, 200, BankerLoanSchema, idempotent=True,
    errors={
        **NOT_FOUND,
        409: "The loan is not approved (`invalid_state`; one disbursed by an "
        "earlier try of this request, same banker and Idempotency-Key, answers "
        "200), the disbursement account is frozen or closed (`account_frozen`, "
        "`account_closed`; the loan stays approved, and a retry with the same "
        "key replays that answer: use a new key once it is active again), or a "
        "request with this key is still running (`idempotency_in_progress`).",
        503: "Another banker's disbursement of this loan is under way "
        "(`ledger_busy`); a retry is safe and never pays out twice.",
    },
)  # fmt: skip
@roles_required("banker")
@idempotent(render=loans.render_disbursement)
def disburse(loan_id: str):
    """Open the loan's account and pay the principal into the disbursement
    account, once. With an Idempotency-Key a retry answers what the first
    request answered (a refusal included); a retry of a request that stopped
    halfway answers 200 with the loan, disbursed once (by the retry, or by the
    job runner meanwhile). The same key from another banker is another
    request: a loan already disbursed answers it `409 invalid_state`."""
    return loans.disburse(current_user, loan_id, request_claim()), 200
