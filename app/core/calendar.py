"""The bank's calendar: days and months in BANK_TIMEZONE, instants in UTC.

"Today", "a day" and "a month" (for daily limits, schedules, statements and
reports) are calendar dates in the bank's zone; everything stored stays a UTC
instant. Nothing here reads a clock: callers pass the instant, so tests can
stand on any day (a month end, a leap day, a daylight-saving change).
"""

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def bank_day(instant: datetime, zone: str) -> date:
    """Return the calendar date ``instant`` falls on in the bank's zone."""
    return instant.astimezone(ZoneInfo(zone)).date()


def day_start(day: date, zone: str) -> datetime:
    """Return the UTC instant at which ``day`` begins in the bank's zone."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def next_day_start(instant: datetime, zone: str) -> datetime:
    """Return the UTC instant the bank's day after ``instant``'s begins."""
    return day_start(bank_day(instant, zone) + timedelta(days=1), zone)


def add_months(start: date, months: int) -> date:
    """Return ``start`` moved by ``months``, on its day of the month or the
    last day of a shorter month (31 Jan + 1 → 28 or 29 Feb, + 2 → 31 Mar)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last))


def utc_text(instant: datetime) -> str:
    """Write an instant as ISO 8601 in UTC with a ``Z``, to the millisecond (as
    every timestamp of the API is written)."""
    text = instant.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
