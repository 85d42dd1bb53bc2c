"""Shared fields and schemas: money, timestamps, cursors, pagination."""

import base64
import binascii
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models import EPOCH

_MONEY_TEXT = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
ACCOUNT_NUMBER = validate.Regexp(
    r"\A[0-9]{10}\Z", error="Must be a 10-digit account number."
)
CENT = Decimal("0.01")
UTC_MIN = datetime.min.replace(tzinfo=UTC)
UTC_MAX = datetime.max.replace(tzinfo=UTC)


def format_cents(cents: int) -> str:
    """Render integer cents as a string with exactly two decimals."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def isoformat_utc(value: datetime | None) -> str | None:
    """Render a datetime as ISO 8601 UTC with a Z suffix."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def is_ascii_digits(text: str) -> bool:
    """Tell whether ``text`` is one or more of 0-9 and nothing else.

    ``str.isdigit()`` is true for '²' or '٣' as well, which ``int()`` then refuses
    or reads as another number: every digit check on outside text uses this.
    """
    return _ASCII_DIGITS.fullmatch(text) is not None


def plain_text(value: str) -> None:
    """Refuse characters that are not visible text: the validator of every text field.

    Controls (Unicode category Cc: U+0000-001F, U+007F-009F), format characters
    (Cf: bidi overrides and isolates such as U+202E and U+2066-2069, zero-width
    spaces and joiners, U+FEFF), line and paragraph separators (Zl, Zp: U+2028,
    U+2029) and surrogates (Cs). Each can make stored text show something other
    than what it holds, or break the line-based tools that display it.
    """
    if value.isascii():
        invisible = _ASCII_CONTROLS.search(value) is not None
    else:
        invisible = any(unicodedata.category(char) in _INVISIBLE for char in value)
    if invisible:
        raise ValidationError(
            "Must not contain control, format (such as bidi or zero-width) or "
            "line-separator characters."
        )


_BANK_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BankDate(fields.Date):
    """A calendar date in the bank's zone, written ``YYYY-MM-DD`` and nothing else.

    (``date.fromisoformat`` alone would also read ``20270101`` or ``2027-W01``.)
    """

    default_error_messages = {"invalid": "Must be a date written YYYY-MM-DD."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or _BANK_DATE.fullmatch(value) is None:
            raise self.make_error("invalid")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc


class Money(fields.Field):
    """An amount in, integer cents out; exact, positive, at most two decimals.

    The request body is parsed with JSON numbers as Decimal, so no value here has
    been through a binary float; a float that arrives anyway is refused.
    """

    default_error_messages = {
        "invalid": "Must be a number or a numeric string.",
        "positive": "Must be greater than 0.",
        "places": "Must have at most 2 decimal places.",
        "too_large": "Must be at most {maximum}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            amount = Decimal(value)
        elif isinstance(value, Decimal):
            amount = value
        elif isinstance(value, str) and _MONEY_TEXT.fullmatch(value):
            amount = Decimal(value)
        else:
            raise self.make_error("invalid")
        if not amount.is_finite():
            raise self.make_error("invalid")
        if amount <= 0:
            raise self.make_error("positive")
        maximum = current_app.config["MAX_TRANSACTION_AMOUNT"]
        if amount > maximum:
            raise self.make_error("too_large", maximum=f"{maximum:.2f}")
        # Judged as written: "1.000" has three decimal places and is refused, so
        # a client's precision mistake is reported instead of silently accepted.
        if amount.as_tuple().exponent < -2:
            raise self.make_error("places")
        return int(amount.quantize(CENT) * 100)


class Cents(fields.Field):
    """Integer cents out as a two-decimal string."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        return None if value is None else format_cents(value)


class UtcDateTime(fields.Field):
    """A datetime out as ISO 8601 UTC with Z."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        return isoformat_utc(value)


class ObjectIdString(fields.Field):
    """An ObjectId out as its hex string."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        return None if value is None else str(value)


def utc_position(value: str, *, end: bool = False) -> timedelta:
    """Place an ISO date or datetime on the UTC timeline, as time since datetime.min.

    Exact wherever it falls, even outside the datetime range (year 1 at +14:00
    is year 0 in UTC), where ``astimezone()`` raises OverflowError. Zone-less
    means UTC; precision is BSON's millisecond. As an upper bound (``end``) a
    date-only value includes its whole day and a datetime its own millisecond.

    :raises ValueError: not an ISO 8601 date or datetime.
    """
    if len(value) == 10:
        day = date.fromisoformat(value)
        return day - date.min + timedelta(days=1 if end else 0)
    moment = datetime.fromisoformat(value)
    offset = moment.utcoffset() or timedelta(0)
    position = moment.replace(tzinfo=None) - datetime.min - offset
    position -= timedelta(microseconds=position.microseconds % 1000)
    return position + timedelta(milliseconds=1 if end else 0)


def clamped_utc(position: timedelta) -> datetime:
    """The UTC datetime at ``position``, clamped to the datetime range.

    No stored time lies outside the range, so a bound clamped to its end
    selects exactly what the bound itself would.
    """
    if position <= timedelta(0):
        return UTC_MIN
    if position >= UTC_MAX - UTC_MIN:
        return UTC_MAX
    return UTC_MIN + position


class DateBound(fields.Field):
    """An ISO date or datetime in a query; zone-less means UTC.

    As an upper bound (``end=True``) a date-only value includes its whole day, and
    a datetime includes its own millisecond; either way the result is exclusive.
    A bound beyond either end of the datetime range once in UTC
    (``to=9999-12-31``, ``from=0001-01-01T00:00:00+14:00``) is clamped to that
    end rather than overflowing (see ``utc_position``).
    """

    default_error_messages = {"invalid": "Must be an ISO 8601 date or datetime."}

    def __init__(self, *, end: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or not 10 <= len(value) <= 40:
            raise self.make_error("invalid")
        try:
            return clamped_utc(utc_position(value, end=self.end))
        except ValueError as exc:
            raise self.make_error("invalid") from exc


def encode_cursor(doc: dict) -> str:
    """Make the opaque cursor that resumes after ``doc``."""
    created = doc["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    millis = (created - EPOCH) // timedelta(milliseconds=1)
    raw = f"{millis}:{doc['_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor_text(value: str) -> str:
    """Undo a cursor's unpadded URL-safe base64; ValueError when it is not."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


class Cursor(fields.Field):
    """An opaque pagination cursor in, (created_at, ObjectId) out."""

    default_error_messages = {"invalid": "Invalid cursor."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or len(value) > 64:
            raise self.make_error("invalid")
        try:
            raw = decode_cursor_text(value)
            millis_text, oid_text = raw.split(":")
            if not is_ascii_digits(millis_text):
                raise ValueError(millis_text)
            created = EPOCH + timedelta(milliseconds=int(millis_text))
            return created, ObjectId(oid_text)
        except (ValueError, binascii.Error, InvalidId, OverflowError) as exc:
            raise self.make_error("invalid") from exc


class QueryInt(fields.Field):
    """A small non-negative integer given as query text."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,6}", value):
            raise self.make_error("invalid")
        return int(value)


class PageArgsSchema(Schema):
    """``limit`` (1-100, default 20) and an opaque ``cursor``."""

    limit = QueryInt(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor(load_default=None)


class DateRangeArgsSchema(PageArgsSchema):
    """Pagination plus ``from`` / ``to`` bounds."""

    start = DateBound(data_key="from", load_default=None)
    end = DateBound(data_key="to", end=True, load_default=None)

    @validates_schema(pass_original=True)
    def check_order(self, data: dict, original: dict, **kwargs: Any) -> None:
        if data.get("start") is None or data.get("end") is None:
            return
        # Judged where the bounds truly fall: two beyond the same end of the
        # range clamp to the same instant, yet one may still precede the other.
        start = utc_position(original["from"])
        if start >= utc_position(original["to"], end=True):
            raise ValidationError("Must not be before 'from'.", "to")


def page_schema(item: type[Schema]) -> type[Schema]:
    """Make the schema of a list page of ``item``: items and the next cursor."""
    name = item.__name__.removesuffix("Schema")
    return type(
        f"{name}PageSchema",
        (Schema,),
        {
            "__doc__": f"A page of {name} items, newest first.",
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(
                required=True,
                allow_none=True,
                metadata={"description": "Pass as `cursor` for the next page."},
            ),
        },
    )


def page(items: list[dict], docs: list[dict], has_more: bool) -> dict:
    """Shape a list response: items and the cursor of the next page."""
    return {
        "items": items,
        "next_cursor": encode_cursor(docs[-1]) if has_more and docs else None,
    }
