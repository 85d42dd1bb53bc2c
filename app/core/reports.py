"""Staff reports: the monthly figures, logins per day, and the monthly mailing.

Every figure is one aggregation on the database, over an index range of the
month (or days) asked for: a report costs a fixed number of round trips,
however many customers, movements or logins lie behind it. What the figures
mean, where the contract leaves it open:

- A month is a calendar month in BANK_TIMEZONE; a movement belongs to the month
  it was posted in (as statements cut months), a login to the one it was tried
  in.
- ``customers``: ``new`` joined in the month, ``total`` had joined by its end
  (disabled ones included), ``active`` had at least one movement posted on one
  of their accounts in the month, the interest the bank charges on loans aside
  (it is the bank's doing, not the customer's).
- ``logins``: the attempts in the login history, which keeps LOGIN_HISTORY_KEPT
  (90 days): ``success``; ``failure``, a wrong password or unknown username,
  and a disabled user's attempt; ``locked``, refused by the lockout.
- ``movements``: posted journal entries by type, how many and their volume
  (the sum of their amounts); a transfer is a ``transfer_out`` and a
  ``transfer_in``.
- ``reviews_opened``: movements flagged for review in the month.
- ``loans``: ``disbursed``, the principal paid out in the month;
  ``outstanding``, what customers owed on their loans at the month's end
  (principal and charged interest not yet repaid), from the journal; for the
  current month, what they owe now.

The monthly mailing sends the previous month's report, once per address, on or
after the 1st. A runner that was down catches up the previous month only: the
months before it are one ``GET /banker/reports/monthly`` away.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.core.calendar import bank_day, day_start
from app.core.csv_cells import text_cell
from app.core.errors import InvalidRequest, ReportNotFound, money_text
from app.core.notifications import queue_email
from app.core.statements import Month
from app.models.feed import FeedModel
from app.models.loan import LoanModel
from app.models.review import ReviewModel
from app.models.session import LOGIN_HISTORY_KEPT, LoginAttemptModel
from app.models.transaction import TRANSACTION_TYPES, TransactionModel
from app.models.user import UserModel

# Movements that make a customer active: all but the bank's interest charges.
CUSTOMER_MOVEMENTS = tuple(t for t in TRANSACTION_TYPES if t != "interest")
LOGIN_FIGURES = ("success", "failure", "locked")
# Each stored outcome counted under its figure: a disabled user's is a failure.
COUNTED_AS = {"success": "success", "failure": "failure", "locked": "locked",
              "disabled": "failure"}  # fmt: skip
# The longest range of days GET /banker/reports/logins answers.
MAX_LOGIN_DAYS = 366
DEFAULT_LOGIN_DAYS = 30
# Where the mailing stands: the first instant of the month after the last one
# whose report was queued (app.models.feed; moves forward only).
MAILED_FEED = "monthly_report"
CSV_HEADER = ("month", "section", "figure", "count", "amount", "currency")


@dataclass(frozen=True)
class MonthlyReport:
    """One month's figures (amounts in cents)."""

    month: Month
    starts_at: datetime
    ends_at: datetime
    complete: bool  # False: the current month, to date
    generated_at: datetime
    customers: dict[str, int]  # new, total, active
    logins: dict[str, int]  # success, failure, locked
    movements: dict[str, tuple[int, int]]  # type -> (count, volume cents)
    reviews_opened: int
    loans_disbursed_cents: int
    loans_disbursed: int  # how many loans
    loans_outstanding_cents: int


@dataclass(frozen=True)
class LoginDay:
    """The login attempts of one day in the bank's zone, by figure."""

    day: date
    counts: dict[str, int]  # success, failure, locked


@dataclass(frozen=True)
class LoginsReport:
    """Logins per day over [first, last], and since when the history is whole."""

    first: date
    last: date
    days: list[LoginDay]
    history_since: date


def previous_month(now: datetime, zone: str) -> Month:
    """The month before the one ``now`` falls in, in ``zone``."""
    return Month.of(now, zone).shifted(-1)


def _instant(day: date, zone: str) -> datetime:
    """When ``day`` begins in ``zone``; the start of time for a day before it
    (0001-01-01 east of UTC begins in year 0)."""
    try:
        return day_start(day, zone)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def monthly_report(month: Month, zone: str, now: datetime) -> MonthlyReport:
    """Gather the figures of ``month`` (to date for the current month).

    :raises ReportNotFound: the month has not begun.
    """
    start = _instant(month.first_day, zone)
    if start > now:
        raise ReportNotFound()
    end = month.end(zone)  # a month that has begun ends within the calendar
    new, total = UserModel().customer_counts(start, end)
    disbursed, disbursed_cents = LoanModel().disbursed_between(start, end)
    # A loan's ledger account has the loan's id; its balance is minus what is
    # owed, so the month-end balances of the loans paid out and not closed by
    # then sum to minus the outstanding total. Nothing is posted after now: for
    # the current month, that is what is owed now.
    loans = LoanModel().ids_owing_at(end)
    by_type, active, balances = TransactionModel().month_figures(
        start, end, CUSTOMER_MOVEMENTS, loans
    )
    owed = -balances
    return MonthlyReport(
        month=month,
        starts_at=start,
        ends_at=end,
        complete=now >= end,
        generated_at=now,
        customers={"new": new, "total": total, "active": active},
        logins=_figures(LoginAttemptModel().outcome_counts(start, end)),
        movements={t: by_type.get(t, (0, 0)) for t in TRANSACTION_TYPES},
        reviews_opened=ReviewModel().count_opened(start, end),
        loans_disbursed_cents=disbursed_cents,
        loans_disbursed=disbursed,
        loans_outstanding_cents=owed,
    )


def _figures(outcomes: dict[str, int]) -> dict[str, int]:
    figures = dict.fromkeys(LOGIN_FIGURES, 0)
    for outcome, count in outcomes.items():
        if outcome in COUNTED_AS:
            figures[COUNTED_AS[outcome]] += count
    return figures


EARLIEST_DAY = date(1970, 1, 2)


def logins_report(
    first: date | None, last: date | None, zone: str, now: datetime
) -> LoginsReport:
    """Count the login attempts of each day from ``first`` to ``last`` (bank
    days, both included; by default the last DEFAULT_LOGIN_DAYS to today).

    :raises InvalidRequest: ``to`` after today or before ``from``, or a range
        of more than MAX_LOGIN_DAYS days.
    """
    today = bank_day(now, zone)
    last = last or today
    for name, day in (("from", first), ("to", last)):
        # No login predates the epoch, and the calendar's far end overflows.
        if day is not None and day < EARLIEST_DAY:
            raise InvalidRequest(name, f"Must not be before {EARLIEST_DAY}.")
    if last > today:
        raise InvalidRequest("to", f"Must not be after today ({today.isoformat()}).")
    first = first or last - timedelta(days=DEFAULT_LOGIN_DAYS - 1)
    if first > last:
        raise InvalidRequest("to", "Must not be before 'from'.")
    count = (last - first).days + 1
    if count > MAX_LOGIN_DAYS:
        raise InvalidRequest(
            "to", f"Must be at most {MAX_LOGIN_DAYS} days after 'from'."
        )
    days = [first + timedelta(days=n) for n in range(count)]
    # One bucket per local day, cut where each day begins in the bank's zone
    # (a day of a daylight-saving change lasts 23 or 25 hours).
    boundaries = [day_start(day, zone) for day in days]
    boundaries.append(day_start(last + timedelta(days=1), zone))
    found = {
        bucket["_id"]: bucket
        for bucket in LoginAttemptModel().outcomes_by_period(boundaries)
    }
    return LoginsReport(
        first=first,
        last=last,
        days=[
            LoginDay(day, _figures(found.get(start, {})))
            for day, start in zip(days, boundaries, strict=False)
        ],
        history_since=bank_day(now - LOGIN_HISTORY_KEPT, zone) + timedelta(days=1),
    )


# -- the report as CSV, and the monthly mailing --------------------------------


def report_csv(report: MonthlyReport, currency: str) -> bytes:
    """Write the report as UTF-8 CSV: one line per figure (CRLF, RFC 4180)."""
    month = str(report.month)
    rows: list[tuple] = [
        *(("customers", name, count, "") for name, count in report.customers.items()),
        *(("logins", name, count, "") for name, count in report.logins.items()),
        *(
            ("movements", kind, count, money_text(cents))
            for kind, (count, cents) in report.movements.items()
        ),
        ("reviews", "opened", report.reviews_opened, ""),
        ("loans", "disbursed", report.loans_disbursed,
         money_text(report.loans_disbursed_cents)),
        ("loans", "outstanding", "", money_text(report.loans_outstanding_cents)),
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for section, figure, count, amount in rows:
        # Amounts are written by the API itself and stay numbers.
        writer.writerow(
            (text_cell(month), text_cell(section), text_cell(figure), count, amount,
             text_cell(currency) if amount else "")
        )  # fmt: skip
    return out.getvalue().encode("utf-8")


def report_filename(report: MonthlyReport) -> str:
    return f"bank-report-{report.month}.csv"


def _summary(report: MonthlyReport, currency: str, zone: str) -> str:
    """The mail's short text: the headline figures; the CSV holds them all."""
    customers, logins = report.customers, report.logins
    moved = sum(count for count, _cents in report.movements.values())
    return (
        f"The bank's report for {report.month} ({zone}).\n\n"
        f"Customers: {customers['new']} new, {customers['total']} in all, "
        f"{customers['active']} active.\n"
        f"Logins: {logins['success']} successful, {logins['failure']} failed, "
        f"{logins['locked']} locked out.\n"
        f"Movements posted: {moved}.\n"
        f"Reviews opened: {report.reviews_opened}.\n"
        f"Loans: {money_text(report.loans_disbursed_cents)} {currency} disbursed, "
        f"{money_text(report.loans_outstanding_cents)} {currency} outstanding at "
        "the month's end.\n\n"
        f"Every figure is in the attached {report_filename(report)}.\n"
    )


def report_due(now: datetime, zone: str, recipients: Sequence[str]) -> int:
    """1 when the previous month's report is still to mail, else 0."""
    if not recipients:
        return 0
    this_month = _instant(Month.of(now, zone).first_day, zone)
    return 1 if FeedModel().position(MAILED_FEED) < this_month else 0


def mail_monthly_report(
    now: datetime, zone: str, recipients: Sequence[str], currency: str
) -> int:
    """Queue the previous month's report (CSV attached) to each recipient, once.

    Keyed ``monthly-report:<YYYY-MM>:<address>`` in the outbox, so a second
    runner, a re-run or a retry after a crash queues nothing twice; the feed
    moves on only once every address has its message. Return how many were
    queued now.
    """
    if not recipients:
        return 0
    month = previous_month(now, zone)
    report = monthly_report(month, zone, now)
    attachment = (report_filename(report), "text/csv", report_csv(report, currency))
    subject = f"Bank report for {month}"
    body = _summary(report, currency, zone)
    queued = sum(
        queue_email(
            address,
            f"monthly-report:{month}:{address}",
            subject,
            body,
            attachments=[attachment],
            now=now,
        )
        for address in recipients
    )
    FeedModel().advance(MAILED_FEED, report.ends_at)
    return queued
