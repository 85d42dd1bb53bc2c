"""Monthly statements: an account's journal cut into calendar months that add up.

A statement is a month of one account's entries, in the bank's zone. It must
prove itself: opening + credits - debits = closing, to the cent, and each
month's closing is the next month's opening. So months are not cut by time.

Why not by time
===============

Every entry carries the account's ``seq`` (1, 2, 3 ... with no gap over the
entries applied to it) and ``balance_after``, both fixed at the ledger's
commit point. Its ``posted_at`` (when it reached the journal) is not monotone
in seq: two movements committed a millisecond apart can be journalled in the
other order, and a movement whose request died is journalled by recovery
later still. Opening balances "as of the last entry before the 1st by time"
and lines "entries of the month by time" would then disagree at the seam.

Instead each account's seq sequence is partitioned into months. The boundary
of a month end ``B`` is ``close_seq(B)``, the highest seq among the account's
entries posted before ``B``; a month's lines are the entries with seq in
``(close_seq(start), close_seq(end)]``, its opening and closing the
``balance_after`` of those two entries (0 before the first entry). Boundaries
only grow with ``B``, so the months tile the sequence, and identity and chain
hold by construction: each line's balance is the one before plus its amount.

Finding a boundary costs two indexed reads, never a walk of the history: the
entry posted last before ``B`` (``e``), then the entries posted in
``[e.created_at - CLOCK_SKEW, B)``. Any entry with a higher seq than ``e``
committed after ``e`` did, so after ``e`` was created, and it was posted after
it committed: it lies in that window. The window is normally ``e`` itself and
the few entries of the same seconds (for an entry finished by recovery, those
of its grace period).

A late entry
------------

An entry with seq ``s`` journalled after ``B`` while ``s + 1`` was journalled
before it belongs to the month of ``s + 1`` (its seq is below that month's
boundary): it shows there, with its own ``created_at``. Until it reaches the
journal, the statement takes it from the account's commit record
(``pending_entries``, which carries the entry, its seq and balance), so the
month's lines never have a hole, and the statement of a month that has ended
does not change when the entry is finally journalled. An entry above every
journalled one is in no statement until it is journalled: the month to date
closes at the last journalled entry.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bson import ObjectId

from app.core.calendar import add_months, day_start
from app.core.errors import AccountNotFound, StatementNotFound
from app.models import utc_now
from app.models.account import AccountModel
from app.models.ledger import CREDIT_TYPES
from app.models.transaction import TransactionModel

# How far the clocks of the processes writing the journal may disagree: the
# window a boundary looks back from its latest entry's creation (see above).
CLOCK_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in the bank's zone."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        """Read ``YYYY-MM`` (the schema has checked its shape)."""
        return cls(int(text[:4]), int(text[5:7]))

    @classmethod
    def of(cls, instant: datetime, zone: str) -> "Month":
        """The month ``instant`` falls in, in ``zone``."""
        local = instant.astimezone(ZoneInfo(zone))
        return cls(local.year, local.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def shifted(self, months: int) -> "Month":
        """The month ``months`` later (earlier when negative)."""
        day = add_months(self.first_day, months)
        return Month(day.year, day.month)

    def start(self, zone: str) -> datetime:
        """The UTC instant the month begins in ``zone``."""
        return day_start(self.first_day, zone)

    def end(self, zone: str) -> datetime:
        """The UTC instant the next month begins in ``zone``."""
        return self.shifted(1).start(zone)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Statement:
    """One account's month: its lines in seq order and the figures that prove it.

    ``lines`` are journal entries (a late one taken from its commit record);
    ``complete`` is False for the month to date.
    """

    account_number: str
    currency: str
    month: Month
    starts_at: datetime
    ends_at: datetime
    opening_cents: int
    closing_cents: int
    credits_cents: int
    debits_cents: int
    lines: list[dict]
    complete: bool


@dataclass(frozen=True)
class MonthPage:
    """Months with activity, newest first, and whether older ones follow."""

    months: list[Month]
    has_more: bool


# -- finding the account --------------------------------------------------------


def owned_account(owner: dict, account_number: str) -> dict:
    """Return the owner's account by number (any kind or status, closed ones too).

    :raises AccountNotFound: no such account of the owner's.
    """
    account = AccountModel().find_owned(owner["_id"], account_number)
    if account is None:
        raise AccountNotFound()
    return account


def any_account(account_number: str) -> dict:
    """Return any account by number, for staff.

    :raises AccountNotFound: no such account.
    """
    account = AccountModel().find_by_number(account_number)
    if account is None:
        raise AccountNotFound()
    return account


# -- a statement ----------------------------------------------------------------------


def statement(
    account: dict, month: Month, zone: str, now: datetime | None = None
) -> Statement:
    """Cut ``account``'s statement of ``month`` (to date for the current month).

    :raises StatementNotFound: the month has not begun, or it ended before the
        account was opened.
    """
    now = now or utc_now()
    _check_month(account, month, zone, now)
    starts_at, ends_at = month.start(zone), month.end(zone)
    journal = TransactionModel()
    open_seq, opening = boundary(journal, account["_id"], starts_at)
    close_seq, closing = boundary(journal, account["_id"], ends_at)
    lines = _lines(journal, account, open_seq, close_seq)
    credits = sum(e["amount_cents"] for e in lines if e["type"] in CREDIT_TYPES)
    debits = sum(e["amount_cents"] for e in lines if e["type"] not in CREDIT_TYPES)
    if opening + credits - debits != closing:
        # Cannot happen while seq and balance_after are what the ledger wrote;
        # a statement that does not add up is never shown.
        raise RuntimeError(
            f"statement of {account['account_number']} for {month} does not add up"
        )
    return Statement(
        account_number=account["account_number"],
        currency=account["currency"],
        month=month,
        starts_at=starts_at,
        ends_at=ends_at,
        opening_cents=opening,
        closing_cents=closing,
        credits_cents=credits,
        debits_cents=debits,
        lines=lines,
        complete=ends_at <= now,
    )


def _check_month(account: dict, month: Month, zone: str, now: datetime) -> None:
    """Refuse a month that has not begun, or ended before the account opened.

    Judged on the months themselves, before any instant is computed, so a month
    far outside the calendar's range is refused rather than overflowing.
    """
    if month > Month.of(now, zone):
        raise StatementNotFound("The month has not begun.")
    if month < Month.of(account["created_at"], zone):
        raise StatementNotFound("The account was opened after this month.")


def boundary(
    journal: TransactionModel, account_id: ObjectId, instant: datetime
) -> tuple[int, int]:
    """Return (seq, balance after it) of the account's highest seq posted before
    ``instant``; (0, 0) when nothing was (see the module's docstring)."""
    latest = journal.latest_posted_before(account_id, instant)
    if latest is None:
        return 0, 0
    since = latest["created_at"] - CLOCK_SKEW
    window = journal.posted_in_window(account_id, since, instant)
    highest = max([latest, *window], key=lambda entry: entry["seq"])
    return highest["seq"], highest["balance_after_cents"]


def _lines(
    journal: TransactionModel, account: dict, open_seq: int, close_seq: int
) -> list[dict]:
    """The entries with seq in (open_seq, close_seq], in seq order, without a hole.

    A seq missing from the journal belongs to an entry committed before the
    closing one and not journalled yet: its commit record is on the account
    until the journal has it (the record is released only after the insert).
    So the account is read again, and what it no longer holds the journal
    now does.
    """
    lines = journal.posted_seq_range(account["_id"], open_seq, close_seq)
    if len(lines) == close_seq - open_seq:
        return lines
    by_seq = {entry["seq"]: entry for entry in lines}
    missing = [seq for seq in range(open_seq + 1, close_seq + 1) if seq not in by_seq]
    fresh = AccountModel().find_by_id(account["_id"]) or account
    for record in fresh["pending_entries"]:
        if record["seq"] in missing:
            by_seq[record["seq"]] = _from_record(record)
    still = [seq for seq in missing if seq not in by_seq]
    if still:
        by_seq.update(
            (entry["seq"], entry)
            for entry in journal.posted_with_seqs(account["_id"], still)
        )
    if len(by_seq) != close_seq - open_seq:
        raise RuntimeError(
            f"account {account['account_number']} lacks entries between seq "
            f"{open_seq} and {close_seq}"
        )
    return [by_seq[seq] for seq in sorted(by_seq)]


def _from_record(record: dict) -> dict:
    """An entry as it will be journalled, from its commit record."""
    return {
        **record["entry"],
        "seq": record["seq"],
        "balance_after_cents": record["balance_after"],
    }


# -- months with activity -------------------------------------------------------------


def active_months(
    account: dict,
    zone: str,
    limit: int,
    before: Month | None = None,
    now: datetime | None = None,
) -> MonthPage:
    """Return up to ``limit`` months in which the account's journal had entries
    posted, newest first, before ``before`` (a cursor) or from the current month.

    A skip scan: one indexed read per month listed (the entry posted last
    before the month just found), however many entries or quiet months lie
    between. Listed months are those whose statement can have lines.
    """
    now = now or utc_now()
    current = Month.of(now, zone)
    opened = Month.of(account["created_at"], zone)
    if before is not None and before <= opened:
        return MonthPage([], False)  # nothing before the account was opened
    newest = current if before is None or before > current else before.shifted(-1)
    journal = TransactionModel()
    months: list[Month] = []
    bound = newest
    while len(months) <= limit and bound >= opened:
        latest = journal.latest_posted_before(account["_id"], bound.end(zone))
        if latest is None:
            break
        month = Month.of(latest["posted_at"], zone)
        months.append(month)
        bound = month.shifted(-1)
    return MonthPage(months[:limit], len(months) > limit)
