"""Loans: validate, run the use case, render the loan (and its money).

The use cases audit each decision themselves, in the decision's own write
(``app.core.decision_audit``); only a product's creation is audited here.
"""

from dataclasses import asdict

from flask import current_app

from app import audit
from app.controllers import caller
from app.core import loans
from app.core.errors import LoanNotFound
from app.core.loans import Application, LoanRules, LoanState, NewProduct
from app.core.movements import Movement, MovementKey
from app.models.loan import LoanModel
from app.schemas.common import page
from app.schemas.loan import (
    application_result_schema,
    application_schema,
    banker_loan_list_args_schema,
    banker_loan_schema,
    loan_list_args_schema,
    loan_schema,
    new_product_schema,
    product_list_args_schema,
    product_schema,
    reject_schema,
    repayment_result_schema,
    repayment_schema,
    schedule_schema,
)


def loan_rules() -> LoanRules:
    """What the settings say about loans."""
    config = current_app.config
    return LoanRules(
        currency=config["CURRENCY"],
        zone=config["BANK_TIMEZONE"],
        stale_after=config["LEDGER_PENDING_TIMEOUT"],
    )


def shown(state: LoanState) -> dict:
    """The loan as the schemas dump it: its document and what follows from it."""
    rows = [asdict(row) for row in state.rows]
    next_due = None
    if state.next_due is not None:
        next_due = {
            "due_date": state.next_due.due_date,
            "left_cents": state.next_due.instalment_cents - state.next_due.paid_cents,
        }
    doc = state.doc
    return {
        **doc,
        "status": state.status,
        "purpose": doc.get("purpose"),
        "account_number": doc.get("account_number"),
        "owed_cents": state.owed_cents,
        "next_due": next_due,
        "days_past_due": state.days_past_due,
        "rows": rows,
    }


def create_product(actor: dict, payload: object) -> dict:
    """A banker adds a loan product.

    :raises ValidationError: bad terms (a minimum above its maximum among them).
    """
    data = new_product_schema.load(payload)
    product = loans.create_product(NewProduct(**data))
    rendered = product_schema.dump(product)
    audit.record(
        "loan_product_created", actor=actor["username"], target=rendered["id"],
        details={"name": product["name"], "annual_rate": product["annual_rate"]},
    )  # fmt: skip
    return rendered


def list_products(args: dict) -> dict:
    """A page of loan products, newest first."""
    query = product_list_args_schema.load(args)
    docs, more = loans.list_products(query["limit"], query["cursor"], query["active"])
    return page(product_schema.dump(docs, many=True), docs, more)


def apply(user: dict, payload: object) -> dict:
    """The customer applies (audited by the use case); render the loan with its
    schedule preview.

    :raises ValidationError: bad input, or terms outside the product's bounds.
    """
    data = application_schema.load(payload)
    state = loans.apply(caller(user), Application(**data), rules=loan_rules())
    return application_result_schema.dump(shown(state))


def list_own(user: dict, args: dict) -> dict:
    """A page of the customer's loans."""
    query = loan_list_args_schema.load(args)
    states, docs, more = loans.list_own(
        user, query["limit"], query["cursor"], query["status"], rules=loan_rules()
    )
    return page(loan_schema.dump([shown(s) for s in states], many=True), docs, more)


def list_all(args: dict) -> dict:
    """A page of every customer's loans (staff)."""
    query = banker_loan_list_args_schema.load(args)
    states, docs, more = loans.list_all(
        query["limit"], query["cursor"], query["status"], query["overdue"],
        rules=loan_rules(),
    )  # fmt: skip
    return page(
        banker_loan_schema.dump([shown(s) for s in states], many=True), docs, more
    )


def get(viewer: dict, loan_id: str) -> dict:
    """One loan, for its owner or staff.

    :raises LoanNotFound: no such loan, or another customer's.
    """
    state = loans.get(viewer, loan_id, rules=loan_rules())
    schema = loan_schema if viewer["role"] == "customer" else banker_loan_schema
    return schema.dump(shown(state))


def schedule(viewer: dict, loan_id: str) -> dict:
    """A loan's schedule as it stands.

    :raises LoanNotFound: no such loan, or another customer's.
    """
    return schedule_schema.dump(shown(loans.get(viewer, loan_id, rules=loan_rules())))


def withdraw(user: dict, loan_id: str) -> dict:
    """The customer withdraws their application.

    :raises DomainError: see :func:`app.core.loans.withdraw`.
    """
    state = loans.withdraw(caller(user), loan_id, rules=loan_rules())
    return loan_schema.dump(shown(state))


def approve(actor: dict, loan_id: str) -> dict:
    """A banker approves an application.

    :raises DomainError: see :func:`app.core.loans.approve`.
    """
    state = loans.approve(caller(actor), loan_id, rules=loan_rules())
    return banker_loan_schema.dump(shown(state))


def reject(actor: dict, loan_id: str, payload: object) -> dict:
    """A banker rejects an application, optionally saying why.

    :raises DomainError: see :func:`app.core.loans.reject`.
    """
    data = reject_schema.load(payload)
    state = loans.reject(caller(actor), loan_id, data["reason"], rules=loan_rules())
    return banker_loan_schema.dump(shown(state))


def disburse(actor: dict, loan_id: str, request: str | None = None) -> dict:
    """A banker disburses an approved loan (once, however often asked).

    ``request``: the Idempotency-Key's claim, when the request has one (a retry
    of it is answered with the loan even when the job finished it meanwhile).

    :raises DomainError: see :func:`app.core.loans.disburse`.
    """
    state = loans.disburse(caller(actor), loan_id, rules=loan_rules(),
                           request=request)  # fmt: skip
    return banker_loan_schema.dump(shown(state))


def repay(
    user: dict, loan_id: str, payload: object, key: MovementKey | None = None
) -> dict:
    """Move money from one of the caller's accounts into the loan; render both.

    :raises ValidationError: a bad amount or account number.
    :raises DomainError: see :func:`app.core.loans.repay`.
    """
    data = repayment_schema.load(payload)
    result = loans.repay(
        caller(user), loan_id, data["cents"], data["from_account_number"],
        rules=loan_rules(), key=key,
    )  # fmt: skip
    return _render(result.loan, result.movement)


def render_repayment(movement: Movement) -> dict:
    """Render a settled repayment as the route answers it (an Idempotency-Key's
    retry whose first request died)."""
    # The loan account's _id is the loan's, and it is the in leg's account.
    into = next(entry for entry in movement.entries if entry["type"] == "transfer_in")
    loan = LoanModel().find(into["account_id"])
    if loan is None:  # pragma: no cover - a repayment's target is a loan
        raise LoanNotFound()
    return _render(loans.current_state(loan, loan_rules()), movement)


def _render(state: LoanState, movement: Movement) -> dict:
    return repayment_result_schema.dump(
        {"loan": shown(state), "transfer": movement.first}
    )


def render_disbursement(movement: Movement) -> dict:
    """Render a settled disbursement as the route answers it."""
    # The out leg leaves the loan's account, whose _id is the loan's.
    loan = LoanModel().find(movement.first["account_id"])
    if loan is None:  # pragma: no cover - a disbursement leaves a loan account
        raise LoanNotFound()
    return banker_loan_schema.dump(shown(loans.current_state(loan, loan_rules())))
