"""Schemas for the monthly figures and the customer's dashboard."""

from marshmallow import Schema, fields, validate

from app.core.analytics import DEFAULT_MONTHS, MAX_MONTHS
from app.schemas.account import AccountSchema
from app.schemas.common import Cents, QueryInt
from app.schemas.goal import GoalSchema
from app.schemas.statement import MonthField
from app.schemas.transaction import TransactionSchema


class AnalyticsArgsSchema(Schema):
    """How many months, up to this one: 1 to 24, default 6."""

    months = QueryInt(
        load_default=DEFAULT_MONTHS,
        validate=validate.Range(min=1, max=MAX_MONTHS),
        metadata={"description": "How many months up to the current one (1-24)."},
    )


class MonthFiguresSchema(Schema):
    """One month's income, expenses and net; moves between own accounts are
    neither."""

    month = MonthField(required=True, metadata={"example": "2026-11"})
    income = Cents(required=True, attribute="income_cents")
    expenses = Cents(required=True, attribute="expenses_cents")
    net = Cents(required=True, attribute="net_cents")
    count = fields.Integer(
        required=True,
        metadata={"description": "The movements counted as income or expenses."},
    )


class MonthlyAnalyticsSchema(Schema):
    """The months asked for, oldest first, the current month (to date) last."""

    items = fields.List(fields.Nested(MonthFiguresSchema), required=True)
    currency = fields.String(required=True, metadata={"example": "USD"})


class ThisMonthSchema(Schema):
    """The current month's income and expenses so far."""

    income = Cents(required=True, attribute="income_cents")
    expenses = Cents(required=True, attribute="expenses_cents")


class DashboardSchema(Schema):
    """The customer's first screen in one call."""

    total_balance = Cents(
        required=True,
        attribute="total_cents",
        metadata={
            "description": "What the customer holds: checking, savings and goal "
            "accounts (loans, which are owed, are not subtracted)."
        },
    )
    currency = fields.String(required=True, metadata={"example": "USD"})
    accounts = fields.List(
        fields.Nested(AccountSchema),
        required=True,
        metadata={"description": "Accounts that are not goals and not closed, "
                  "the primary first."},
    )  # fmt: skip
    this_month = fields.Nested(ThisMonthSchema, required=True)
    recent = fields.List(
        fields.Nested(TransactionSchema),
        required=True,
        metadata={"description": "The last 5 transactions, newest first."},
    )
    goals = fields.List(
        fields.Nested(GoalSchema),
        required=True,
        metadata={"description": "Goals that are not closed."},
    )


analytics_args_schema = AnalyticsArgsSchema()
monthly_analytics_schema = MonthlyAnalyticsSchema()
dashboard_schema = DashboardSchema()
