"""Schemas for monthly statements: the month asked for, the formats, the resource."""

import base64
import binascii
import re
from typing import Any

from marshmallow import Schema, fields, validate

from app.core.statements import Month
from app.schemas.common import Cents, QueryInt, UtcDateTime, decode_cursor_text
from app.schemas.transaction import TransactionSchema

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
FORMATS = ("json", "csv", "pdf")


class MonthField(fields.Field):
    """A calendar month written ``YYYY-MM`` (year 0001 to 9999) in, a Month out."""

    default_error_messages = {"invalid": "Must be a month written YYYY-MM."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or _MONTH.fullmatch(value) is None:
            raise self.make_error("invalid")
        month = Month.parse(value)
        if month.year < 1:
            raise self.make_error("invalid")
        return month

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        return None if value is None else str(value)


def encode_month_cursor(month: Month) -> str:
    """The opaque cursor of the months list that resumes before ``month``."""
    raw = f"month:{month}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class MonthCursor(fields.Field):
    """The months list's opaque cursor in, the Month to list before out."""

    default_error_messages = {"invalid": "Invalid cursor."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or len(value) > 64:
            raise self.make_error("invalid")
        try:
            raw = decode_cursor_text(value)
        except (ValueError, binascii.Error) as exc:
            raise self.make_error("invalid") from exc
        text = raw.removeprefix("month:")
        if text == raw or _MONTH.fullmatch(text) is None:
            raise self.make_error("invalid")
        month = Month.parse(text)
        if month.year < 1:
            raise self.make_error("invalid")
        return month


class MonthPathSchema(Schema):
    """The ``{month}`` of a statement's path."""

    month = MonthField(required=True)


class StatementArgsSchema(Schema):
    """How to render a statement: JSON (default), CSV or PDF."""

    format = fields.String(
        load_default="json",
        validate=validate.OneOf(FORMATS),
        metadata={
            "description": "`json` (default), `csv` (text/csv, an attachment) or "
            "`pdf` (application/pdf, an attachment)."
        },
    )


class StatementMonthsArgsSchema(Schema):
    """``limit`` (1-100, default 20) and the opaque ``cursor`` of the months list."""

    limit = QueryInt(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = MonthCursor(load_default=None)


class StatementMonthSchema(Schema):
    """A month with activity on the account."""

    month = MonthField(required=True, metadata={"example": "2026-11"})


class StatementMonthPageSchema(Schema):
    """The months with activity, newest first."""

    items = fields.List(fields.Nested(StatementMonthSchema), required=True)
    next_cursor = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Pass as `cursor` for older months."},
    )


class StatementSchema(Schema):
    """One account's month: opening + credits - debits = closing, exactly."""

    account_number = fields.String(required=True, metadata={"example": "4817302955"})
    month = MonthField(required=True, metadata={"example": "2026-11"})
    currency = fields.String(required=True, metadata={"example": "USD"})
    starts_at = UtcDateTime(
        required=True,
        metadata={"description": "When the month begins in BANK_TIMEZONE (UTC)."},
    )
    ends_at = UtcDateTime(
        required=True,
        metadata={"description": "When the next month begins in BANK_TIMEZONE."},
    )
    complete = fields.Boolean(
        required=True,
        metadata={"description": "False for the current month: a statement to date."},
    )
    opening_balance = Cents(required=True, attribute="opening_cents")
    closing_balance = Cents(required=True, attribute="closing_cents")
    total_credits = Cents(required=True, attribute="credits_cents")
    total_debits = Cents(required=True, attribute="debits_cents")
    lines = fields.List(
        fields.Nested(TransactionSchema),
        required=True,
        metadata={"description": "The month's movements in the account's order."},
    )


month_path_schema = MonthPathSchema()
statement_args_schema = StatementArgsSchema()
statement_months_args_schema = StatementMonthsArgsSchema()
statement_month_page_schema = StatementMonthPageSchema()
statement_schema = StatementSchema()
