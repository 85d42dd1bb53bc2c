"""When standing orders fall due: month ends, leap years, count and end_date."""

from datetime import date

import pytest

from app.core.calendar import add_months, bank_day, day_start, next_day_start
from app.core.schedules import Recurrence, first_on_or_after, occurrence


def dates(start: date, recurrence: Recurrence | None, limit: int = 50) -> list[str]:
    found = []
    for n in range(limit):
        day = occurrence(start, recurrence, n)
        if day is None:
            break
        found.append(day.isoformat())
    return found


def test_monthly_on_the_31st_falls_on_each_months_last_day_when_shorter():
    monthly = Recurrence("monthly", count=4)
    assert dates(date(2027, 1, 31), monthly) == [
        "2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30",
    ]  # fmt: skip


def test_in_a_leap_year_february_ends_on_the_29th():
    assert dates(date(2028, 1, 31), Recurrence("monthly", count=3)) == [
        "2028-01-31", "2028-02-29", "2028-03-31",
    ]  # fmt: skip
    # A leap day itself, yearly by twelve months: 28 Feb in common years.
    yearly = Recurrence("monthly", interval=12, count=5)
    assert dates(date(2028, 2, 29), yearly) == [
        "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29",
    ]  # fmt: skip


def test_a_short_month_does_not_pull_later_dates_earlier():
    # Counted from the start each time: 30 Jan -> 28 Feb -> 30 Mar, not 28 Mar.
    assert dates(date(2027, 1, 30), Recurrence("monthly", count=3)) == [
        "2027-01-30", "2027-02-28", "2027-03-30",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "recurrence, expected",
    [
        (None, ["2027-03-01"]),
        (Recurrence("daily", count=3), ["2027-03-01", "2027-03-02", "2027-03-03"]),
        (Recurrence("daily", interval=10, end_date=date(2027, 3, 21)),
         ["2027-03-01", "2027-03-11", "2027-03-21"]),
        (Recurrence("weekly", interval=2, count=3),
         ["2027-03-01", "2027-03-15", "2027-03-29"]),
        (Recurrence("weekly", end_date=date(2027, 3, 14)),
         ["2027-03-01", "2027-03-08"]),
        (Recurrence("monthly", interval=3, count=4),
         ["2027-03-01", "2027-06-01", "2027-09-01", "2027-12-01"]),
        (Recurrence("monthly", end_date=date(2027, 5, 31)),
         ["2027-03-01", "2027-04-01", "2027-05-01"]),
        (Recurrence("monthly", end_date=date(2027, 3, 1)), ["2027-03-01"]),
    ],
)  # fmt: skip
def test_occurrences_of_each_kind_and_their_end(recurrence, expected):
    assert dates(date(2027, 3, 1), recurrence) == expected


def test_a_year_of_monthly_dates_crosses_the_year_end():
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2027, 12, 31), 1) == date(2028, 1, 31)
    assert add_months(date(2027, 12, 15), 13) == date(2029, 1, 15)


def test_resuming_skips_what_fell_due_meanwhile():
    weekly = Recurrence("weekly", count=10)
    n, day = first_on_or_after(date(2027, 3, 1), weekly, 1, date(2027, 3, 20))
    assert (n, day) == (3, date(2027, 3, 22))
    # Nothing left after the last occurrence.
    assert first_on_or_after(date(2027, 3, 1), weekly, 1, date(2027, 6, 1))[1] is None


def test_bank_days_and_their_bounds_follow_the_zone():
    from datetime import UTC, datetime

    late = datetime(2027, 3, 27, 23, 30, tzinfo=UTC)
    assert bank_day(late, "UTC") == date(2027, 3, 27)
    assert bank_day(late, "Europe/Paris") == date(2027, 3, 28)
    # Paris moves to summer time on 28 March 2027: that day starts at 23:00 UTC
    # the evening before, the next one at 22:00 UTC.
    assert day_start(date(2027, 3, 28), "Europe/Paris") == datetime(
        2027, 3, 27, 23, 0, tzinfo=UTC
    )
    assert next_day_start(late, "Europe/Paris") == datetime(
        2027, 3, 28, 22, 0, tzinfo=UTC
    )
