"""Schemas for loan products, loans and their schedules."""

import re
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate

from app.core.loan_schedule import MAX_ANNUAL_RATE
from app.models.loan import LOAN_STATUSES
from app.schemas.account import WithOwner
from app.schemas.admin import StrictBoolean
from app.schemas.common import (
    ACCOUNT_NUMBER,
    Cents,
    Money,
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)
from app.schemas.scheduled import WholeNumber
from app.schemas.transaction import TransferResultSchema

_RATE_TEXT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")
# What a product may lend over: 1 month to 30 years.
TERM = validate.Range(min=1, max=360)
# The statuses a client sees (``disbursing`` shows as ``approved``).
SHOWN_STATUSES = tuple(status for status in LOAN_STATUSES if status != "disbursing")


class AnnualRate(fields.Field):
    """A yearly percentage, "7.50" for 7.50 %: exact, 0 to 100, two decimals at
    most; a string or a JSON number (parsed exactly), out as a string."""

    default_error_messages = {
        "invalid": "Must be a percentage between 0 and 100 with at most 2 decimals."
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.make_error("invalid")
        text = str(value)
        if not _RATE_TEXT.fullmatch(text) or Decimal(text) > MAX_ANNUAL_RATE:
            raise self.make_error("invalid")
        return Decimal(text).quantize(Decimal("0.01"))

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value)


class QueryBoolean(fields.Field):
    """``true`` or ``false`` in a query string, and nothing else."""

    default_error_messages = {"invalid": "Must be true or false."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value in ("true", "false"):
            return value == "true"
        raise self.make_error("invalid")


class NewProductSchema(Schema):
    """POST /banker/loan-products."""

    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=80), plain_text],
        metadata={"example": "Personal loan"},
    )
    annual_rate = AnnualRate(required=True, metadata={"example": "7.50"})
    min_cents = Money(data_key="min_amount", required=True)
    max_cents = Money(data_key="max_amount", required=True)
    min_term_months = WholeNumber(required=True, validate=TERM)
    max_term_months = WholeNumber(required=True, validate=TERM)
    active = StrictBoolean(load_default=True)


class ProductSchema(Schema):
    """A loan product."""

    id = ObjectIdString(required=True, attribute="_id")
    name = fields.String(required=True)
    annual_rate = fields.String(required=True, metadata={"example": "7.50"})
    min_amount = Cents(required=True, attribute="min_cents")
    max_amount = Cents(required=True, attribute="max_cents")
    min_term_months = fields.Integer(required=True)
    max_term_months = fields.Integer(required=True)
    active = fields.Boolean(required=True)


class ProductListArgsSchema(PageArgsSchema):
    """GET /loan-products: optionally only the products on offer (or not)."""

    active = QueryBoolean(load_default=None)


class ApplicationSchema(Schema):
    """POST /loans: apply for a loan on a product."""

    product_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    cents = Money(data_key="amount", required=True)
    term_months = WholeNumber(required=True, validate=TERM)
    purpose = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=140), plain_text],
    )
    disbursement_account_number = fields.String(
        load_default=None,
        allow_none=True,
        validate=ACCOUNT_NUMBER,
        metadata={"description": "One of the caller's accounts; default primary."},
    )


class RejectSchema(Schema):
    """POST /banker/loans/{id}/reject: why (the customer sees it)."""

    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=200), plain_text]
    )


class RepaymentSchema(Schema):
    """POST /loans/{id}/repayments."""

    cents = Money(data_key="amount", required=True)
    from_account_number = fields.String(
        load_default=None, allow_none=True, validate=ACCOUNT_NUMBER,
        metadata={"description": "One of the caller's accounts; default primary."},
    )  # fmt: skip


class NextDueSchema(Schema):
    """The next instalment to pay, and what is left of it."""

    date = fields.String(required=True, attribute="due_date")
    amount = Cents(required=True, attribute="left_cents")


class ScheduleRowSchema(Schema):
    """One instalment of a loan's schedule."""

    number = fields.Integer(required=True)
    due_date = fields.String(required=True)
    principal = Cents(required=True, attribute="principal_cents")
    interest = Cents(required=True, attribute="interest_cents")
    instalment = Cents(required=True, attribute="instalment_cents")
    paid = Cents(required=True, attribute="paid_cents")
    status = fields.String(
        required=True, validate=validate.OneOf(("due", "paid", "overdue", "upcoming"))
    )


class LoanSchema(Schema):
    """A loan application, or the loan it became (dumped from
    ``app.controllers.loans.shown``)."""

    id = ObjectIdString(required=True, attribute="_id")
    status = fields.String(required=True, validate=validate.OneOf(SHOWN_STATUSES))
    product_id = ObjectIdString(required=True)
    principal = Cents(required=True, attribute="principal_cents")
    annual_rate = fields.String(required=True, metadata={"example": "12.00"})
    term_months = fields.Integer(required=True)
    instalment = Cents(required=True, attribute="instalment_cents")
    purpose = fields.String(required=True, allow_none=True)
    disbursement_account_number = fields.String(required=True)
    account_number = fields.String(
        required=True, allow_none=True,
        metadata={"description": "The loan's own account, once disbursed."},
    )  # fmt: skip
    outstanding = Cents(
        required=True, attribute="owed_cents",
        metadata={"description": "What is owed now: minus the loan account's balance."},
    )  # fmt: skip
    next_due = fields.Nested(NextDueSchema, required=True, allow_none=True)
    days_past_due = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    decided_at = UtcDateTime(required=True, allow_none=True)
    decided_by = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    disbursed_at = UtcDateTime(required=True, allow_none=True)


class ApplicationResultSchema(LoanSchema):
    """A new application, with the schedule it would have if disbursed today."""

    schedule = fields.List(fields.Nested(ScheduleRowSchema), attribute="rows")


class BankerLoanSchema(LoanSchema, WithOwner):
    """A loan with its owner, as staff see it."""


class ScheduleSchema(Schema):
    """GET /loans/{id}/schedule."""

    loan_id = ObjectIdString(required=True, attribute="_id")
    status = fields.String(required=True, validate=validate.OneOf(SHOWN_STATUSES))
    items = fields.List(fields.Nested(ScheduleRowSchema), attribute="rows")


class RepaymentResultSchema(Schema):
    """A posted repayment: the loan after it, and the transfer."""

    loan = fields.Nested(LoanSchema, required=True)
    transfer = fields.Nested(TransferResultSchema, required=True)


class LoanListArgsSchema(PageArgsSchema):
    """GET /loans: optionally one status."""

    status = fields.String(load_default=None, validate=validate.OneOf(SHOWN_STATUSES))


class BankerLoanListArgsSchema(LoanListArgsSchema):
    """GET /banker/loans: a status, and/or only loans past due."""

    overdue = QueryBoolean(load_default=False)


ProductPageSchema = page_schema(ProductSchema)
LoanPageSchema = page_schema(LoanSchema)
BankerLoanPageSchema = page_schema(BankerLoanSchema)

new_product_schema = NewProductSchema()
product_schema = ProductSchema()
product_list_args_schema = ProductListArgsSchema()
application_schema = ApplicationSchema()
application_result_schema = ApplicationResultSchema()
reject_schema = RejectSchema()
repayment_schema = RepaymentSchema()
loan_schema = LoanSchema()
banker_loan_schema = BankerLoanSchema()
schedule_schema = ScheduleSchema()
repayment_result_schema = RepaymentResultSchema()
loan_list_args_schema = LoanListArgsSchema()
banker_loan_list_args_schema = BankerLoanListArgsSchema()
