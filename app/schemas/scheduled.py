"""Schemas for scheduled transfers (standing orders), their runs, and limits."""

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.core.schedules import FREQUENCIES
from app.models.scheduled_transfer import RUN_STATUSES, STATUSES
from app.schemas.common import (
    BankDate,
    Cents,
    Money,
    ObjectIdString,
    UtcDateTime,
    page_schema,
)
from app.schemas.transaction import TransferSchema


class WholeNumber(fields.Integer):
    """A JSON integer (parsed exactly: an int or an integral Decimal); no
    booleans, no strings, no fractions."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self.make_error("invalid")
        if isinstance(value, Decimal) and (
            # Beyond 18 digits no whole number here is in range, and int() of
            # 1E+999999999999999999 would try to build it.
            not value.is_finite() or value.adjusted() > 18
            or value != value.to_integral_value()
        ):
            raise self.make_error("invalid")
        return int(value)


class RecurrenceSchema(Schema):
    """How an order repeats: every ``interval`` days, weeks or months."""

    frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    interval = WholeNumber(load_default=1, validate=validate.Range(min=1, max=12))
    count = WholeNumber(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=1000)
    )
    end_date = BankDate(load_default=None, allow_none=True)

    @validates_schema
    def check_one_end(self, data: dict, **kwargs: Any) -> None:
        if data.get("count") is not None and data.get("end_date") is not None:
            raise ValidationError("Give count or end_date, not both.", "count")


class PlaceOrderSchema(TransferSchema):
    """POST /scheduled-transfers: a transfer's fields, from when, how often."""

    start_date = BankDate(required=True, metadata={"example": "2026-12-31"})
    recurrence = fields.Nested(RecurrenceSchema, load_default=None, allow_none=True)


class RecurrenceOutSchema(Schema):
    frequency = fields.String(required=True)
    interval = fields.Integer(required=True)
    count = fields.Integer(required=True, allow_none=True)
    end_date = fields.String(required=True, allow_none=True)


class ScheduledTransferSchema(Schema):
    """A standing order as its customer sees it."""

    id = ObjectIdString(required=True, attribute="_id")
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    from_account_number = fields.String(required=True)
    to_account_number = fields.String(required=True)
    payee_id = ObjectIdString(required=True, allow_none=True)
    amount = Cents(required=True, attribute="amount_cents")
    currency = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    start_date = fields.String(required=True, metadata={"example": "2026-12-31"})
    recurrence = fields.Nested(RecurrenceOutSchema, required=True, allow_none=True)
    next_run_date = fields.Method(
        "_next_run_date",
        required=True,
        allow_none=True,
        metadata={"type": "string", "nullable": True},
    )
    runs_made = fields.Integer(required=True)
    failures_in_a_row = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)

    def _next_run_date(self, order: dict) -> str | None:
        # A completed or cancelled order has nothing left to run.
        if order["status"] in ("completed", "cancelled"):
            return None
        return order["next_run_date"]


class RunSchema(Schema):
    """One settled occurrence of an order (one that needed a banker's approval
    shows the approval's outcome)."""

    due_date = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(RUN_STATUSES),
        metadata={
            "description": "`awaiting_approval`: at least APPROVAL_THRESHOLD to "
            "someone else's account, waiting for a banker (see `approval_id`); "
            "once decided, `succeeded` (posted) or `failed` (`reason` "
            "`approval_rejected`, `approval_cancelled`, `approval_expired`, or "
            "why the approved movement failed)."
        },
    )
    transfer_id = ObjectIdString(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    approval_id = ObjectIdString(
        required=True,
        allow_none=True,
        dump_default=None,
        metadata={"description": "The approval the occurrence asked for, if any."},
    )
    attempted_at = UtcDateTime(required=True)


class LimitsSchema(Schema):
    """GET /limits: the caller's daily limit and what is left of it today."""

    daily_limit = Cents(required=True, attribute="daily_limit_cents")
    used_today = Cents(required=True, attribute="used_today_cents")
    remaining_today = Cents(required=True, attribute="remaining_today_cents")
    currency = fields.String(required=True)
    resets_at = UtcDateTime(required=True)


class SetLimitSchema(Schema):
    """PATCH /limits: a new daily limit (at most the bank's, for a customer)."""

    daily_limit_cents = Money(required=True, data_key="daily_limit")


ScheduledTransferPageSchema = page_schema(ScheduledTransferSchema)
RunPageSchema = page_schema(RunSchema)

place_order_schema = PlaceOrderSchema()
scheduled_transfer_schema = ScheduledTransferSchema()
run_schema = RunSchema()
limits_schema = LimitsSchema()
set_limit_schema = SetLimitSchema()
