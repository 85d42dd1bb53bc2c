"""When a standing order falls due: its occurrences, as bank dates.

Occurrence ``n`` (from 0) of an order starting on ``start`` falls on
``start + n·interval`` days or weeks, or, monthly, on ``start``'s day of the
month ``n·interval`` months on, or the last day of a shorter month: an order
of 31 January pays on 28 (or 29) February and on 31 March. Counted from the
start each time, never from the previous date, so a short month does not pull
every later payment earlier. Pure functions: no clock, no database.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from app.core.calendar import add_months

FREQUENCIES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Recurrence:
    """How an order repeats; ``count`` or ``end_date`` (or neither) ends it."""

    frequency: str
    interval: int = 1
    count: int | None = None
    end_date: date | None = None


def occurrence(start: date, recurrence: Recurrence | None, n: int) -> date | None:
    """Return the date of occurrence ``n`` (0 is ``start``), None past the end."""
    if n < 0:
        raise ValueError("occurrences are counted from 0")
    if recurrence is None:
        return start if n == 0 else None
    if recurrence.count is not None and n >= recurrence.count:
        return None
    step = n * recurrence.interval
    if recurrence.frequency == "daily":
        day = start + timedelta(days=step)
    elif recurrence.frequency == "weekly":
        day = start + timedelta(weeks=step)
    else:
        day = add_months(start, step)
    if recurrence.end_date is not None and day > recurrence.end_date:
        return None
    return day


def first_on_or_after(
    start: date, recurrence: Recurrence | None, n: int, day: date
) -> tuple[int, date | None]:
    """Return the first occurrence from ``n`` on that falls on or after ``day``.

    For a resumed order: what fell due while it was paused is skipped.
    """
    current = occurrence(start, recurrence, n)
    while current is not None and current < day:
        n += 1
        current = occurrence(start, recurrence, n)
    return n, current
