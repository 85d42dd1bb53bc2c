"""Schemas for savings goals, their progress and the money moved in and out."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models.goal import GOAL_STATUSES
from app.schemas.admin import StrictBoolean
from app.schemas.common import (
    ACCOUNT_NUMBER,
    BankDate,
    Cents,
    Money,
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)
from app.schemas.transaction import TransferResultSchema

NAME = [validate.Length(min=1, max=60), plain_text]


class OpenGoalSchema(Schema):
    """POST /goals: a name, and optionally a target amount and date, round-ups."""

    name = fields.String(
        required=True, validate=NAME, metadata={"example": "Summer holiday"}
    )
    target_cents = Money(data_key="target_amount", load_default=None, allow_none=True)
    target_date = BankDate(
        load_default=None,
        allow_none=True,
        metadata={"description": "A future date (in BANK_TIMEZONE)."},
    )
    round_up = StrictBoolean(
        load_default=False,
        metadata={
            "description": "Save the spare change of each spending from the "
            "primary account here (one goal per customer)."
        },
    )


class UpdateGoalSchema(Schema):
    """PATCH /goals/{goal_id}: any of these; ``null`` clears a target."""

    name = fields.String(validate=NAME)
    target_cents = Money(data_key="target_amount", allow_none=True)
    target_date = BankDate(allow_none=True)
    round_up = StrictBoolean()

    @validates_schema
    def check_something(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError(
                "Give at least one of name, target_amount, target_date, round_up.",
                "_schema",
            )


class GoalListArgsSchema(PageArgsSchema):
    """Pagination and an optional ``status`` filter for GET /goals."""

    status = fields.String(load_default=None, validate=validate.OneOf(GOAL_STATUSES))


class GoalDepositSchema(Schema):
    """POST /goals/{goal_id}/deposits: from one of the caller's own accounts."""

    amount_cents = Money(required=True, data_key="amount")
    from_account_number = fields.String(
        load_default=None,
        validate=ACCOUNT_NUMBER,
        metadata={"description": "One of the caller's own accounts; default primary."},
    )


class GoalWithdrawalSchema(Schema):
    """POST /goals/{goal_id}/withdrawals: to one of the caller's own accounts."""

    amount_cents = Money(required=True, data_key="amount")
    to_account_number = fields.String(
        load_default=None,
        validate=ACCOUNT_NUMBER,
        metadata={"description": "One of the caller's own accounts; default primary."},
    )


class GoalProgressSchema(Schema):
    """How far a goal has come; ``null`` where the goal sets no target (or date)."""

    saved = Cents(required=True, attribute="saved_cents")
    remaining = Cents(required=True, allow_none=True, attribute="remaining_cents")
    percent = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Of the target, floored, at most 100."},
    )
    on_track = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={
            "description": "The balance is at least what an even saving from "
            "the opening day to the target date would hold by today."
        },
    )
    needed_per_month = Cents(
        required=True,
        allow_none=True,
        attribute="needed_per_month_cents",
        metadata={
            "description": "What is missing, over the months left to the "
            "target date (counted up, at least 1), rounded up to the cent."
        },
    )


class GoalSchema(Schema):
    """A savings goal: its account's balance and its progress."""

    id = ObjectIdString(required=True)
    name = fields.String(required=True)
    account_number = fields.String(required=True, metadata={"example": "4817302955"})
    status = fields.String(required=True, validate=validate.OneOf(GOAL_STATUSES))
    balance = Cents(required=True, attribute="balance_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})
    target_amount = Cents(required=True, allow_none=True, attribute="target_cents")
    target_date = BankDate(required=True, allow_none=True)
    round_up = fields.Boolean(required=True)
    progress = fields.Nested(GoalProgressSchema, required=True)
    created_at = UtcDateTime(required=True)
    completed_at = UtcDateTime(required=True, allow_none=True)
    closed_at = UtcDateTime(required=True, allow_none=True)


class GoalMovementSchema(Schema):
    """A deposit into or a withdrawal from a goal: the goal after it, the transfer."""

    goal = fields.Nested(GoalSchema, required=True)
    transfer = fields.Nested(TransferResultSchema, required=True)


class ClosedGoalSchema(Schema):
    """A closed goal and the refund of its balance to the primary account."""

    goal = fields.Nested(GoalSchema, required=True)
    refund = fields.Nested(
        TransferResultSchema,
        required=True,
        allow_none=True,
        metadata={"description": "`null` when the goal held nothing."},
    )


GoalPageSchema = page_schema(GoalSchema)

open_goal_schema = OpenGoalSchema()
update_goal_schema = UpdateGoalSchema()
goal_list_args_schema = GoalListArgsSchema()
goal_deposit_schema = GoalDepositSchema()
goal_withdrawal_schema = GoalWithdrawalSchema()
goal_schema = GoalSchema()
goal_movement_schema = GoalMovementSchema()
closed_goal_schema = ClosedGoalSchema()
