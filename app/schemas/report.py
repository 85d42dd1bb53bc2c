"""Schemas for the staff reports: the monthly figures and logins per day."""

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from app.core.reports import LOGIN_FIGURES
from app.models.transaction import TRANSACTION_TYPES
from app.schemas.common import BankDate, Cents, UtcDateTime
from app.schemas.statement import MonthField

REPORT_FORMATS = ("json", "csv")


class MonthlyReportArgsSchema(Schema):
    """The month of the report (default: the previous one) and its format."""

    month = MonthField(
        load_default=None,
        metadata={
            "type": "string",
            "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$",
            "description": "YYYY-MM in BANK_TIMEZONE; default: the previous month.",
            "example": "2026-11",
        },
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(REPORT_FORMATS),
        metadata={
            "description": "`json` (default) or `csv` (text/csv, an attachment)."
        },
    )


class LoginsArgsSchema(Schema):
    """The days of the logins report, in BANK_TIMEZONE, both included."""

    first = BankDate(
        data_key="from",
        load_default=None,
        metadata={"description": "YYYY-MM-DD; default: 29 days before `to`."},
    )
    last = BankDate(
        data_key="to",
        load_default=None,
        metadata={
            "description": "YYYY-MM-DD, not after today and at most 366 days from "
            "`from`; default: today."
        },
    )


class CustomerFiguresSchema(Schema):
    new = fields.Integer(
        required=True, metadata={"description": "Joined in the month."}
    )
    total = fields.Integer(
        required=True, metadata={"description": "Had joined by the month's end."}
    )
    active = fields.Integer(
        required=True,
        metadata={
            "description": "Had a movement posted in the month (interest charges "
            "aside)."
        },
    )


class LoginFiguresSchema(Schema):
    success = fields.Integer(required=True)
    failure = fields.Integer(
        required=True,
        metadata={"description": "Wrong password, unknown username, disabled user."},
    )
    locked = fields.Integer(
        required=True, metadata={"description": "Refused by the lockout."}
    )


class MovementFiguresSchema(Schema):
    count = fields.Integer(required=True)
    volume = Cents(required=True, metadata={"description": "The sum of the amounts."})


class LoanFiguresSchema(Schema):
    disbursed = Cents(
        required=True, metadata={"description": "Principal paid out in the month."}
    )
    outstanding = Cents(
        required=True,
        metadata={
            "description": "Owed on loans at the month's end (now, for the "
            "current month)."
        },
    )


class MonthlyReportSchema(Schema):
    """One month's figures for the bank's staff."""

    month = MonthField(required=True, metadata={"example": "2026-11"})
    currency = fields.String(required=True, metadata={"example": "USD"})
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    complete = fields.Boolean(
        required=True, metadata={"description": "False for the month to date."}
    )
    generated_at = UtcDateTime(required=True)
    customers = fields.Nested(CustomerFiguresSchema, required=True)
    logins = fields.Nested(LoginFiguresSchema, required=True)
    movements = fields.Dict(
        keys=fields.String(validate=validate.OneOf(TRANSACTION_TYPES)),
        values=fields.Nested(MovementFiguresSchema),
        required=True,
        metadata={"description": "By journal type: every type, zeros included."},
    )
    reviews_opened = fields.Integer(required=True)
    loans = fields.Nested(LoanFiguresSchema, required=True)

    @pre_dump
    def shape(self, given: dict, **kwargs: Any) -> dict:
        """From ``{"report": MonthlyReport, "currency": ...}``."""
        report = given["report"]
        return {
            "month": report.month,
            "currency": given["currency"],
            "starts_at": report.starts_at,
            "ends_at": report.ends_at,
            "complete": report.complete,
            "generated_at": report.generated_at,
            "customers": report.customers,
            "logins": report.logins,
            "movements": {
                kind: {"count": count, "volume": cents}
                for kind, (count, cents) in report.movements.items()
            },
            "reviews_opened": report.reviews_opened,
            "loans": {
                "disbursed": report.loans_disbursed_cents,
                "outstanding": report.loans_outstanding_cents,
            },
        }


class LoginDaySchema(Schema):
    date = fields.String(required=True, metadata={"example": "2026-11-21"})
    success = fields.Integer(required=True)
    failure = fields.Integer(required=True)
    locked = fields.Integer(required=True)


class LoginsReportSchema(Schema):
    """Login attempts per day in BANK_TIMEZONE, oldest first, zeros included."""

    from_ = fields.String(
        data_key="from", required=True, metadata={"example": "2026-11-01"}
    )
    to = fields.String(required=True, metadata={"example": "2026-11-30"})
    items = fields.List(fields.Nested(LoginDaySchema), required=True)
    history_since = fields.String(
        required=True,
        metadata={
            "description": "The first day the login history (kept 90 days) still "
            "holds whole; days before it count only what is left."
        },
    )

    @pre_dump
    def shape(self, report: Any, **kwargs: Any) -> dict:
        return {
            "from_": report.first.isoformat(),
            "to": report.last.isoformat(),
            "items": [
                {
                    "date": day.day.isoformat(),
                    **{name: day.counts[name] for name in LOGIN_FIGURES},
                }
                for day in report.days
            ],  # fmt: skip
            "history_since": report.history_since.isoformat(),
        }


monthly_report_args_schema = MonthlyReportArgsSchema()
monthly_report_schema = MonthlyReportSchema()
logins_args_schema = LoginsArgsSchema()
logins_report_schema = LoginsReportSchema()
