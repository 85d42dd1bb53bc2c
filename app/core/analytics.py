"""Monthly income and expenses of a customer, across every account they hold.

Income is money that comes to the customer from outside (deposits, transfers
from someone else's account); expenses, money that leaves them (withdrawals,
transfers to someone else's account, and a loan's interest, which the bank
charges them). A move between two of the customer's own accounts (a goal and
a loan's account included: a loan's disbursement and its repayments are such
moves) is neither. An entry names its counterparty by account number only, so
the customer's own numbers are read once (they hold few accounts) and each
transfer is judged against them.

The figures read only the months asked for: the customer's entries posted in
that window, by the index on (user, type, posting time).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from app.core.statements import Month
from app.models import utc_now
from app.models.account import AccountModel
from app.models.transaction import TransactionModel

# The most months one request may ask for (GET /analytics/monthly?months=N).
MAX_MONTHS = 24
DEFAULT_MONTHS = 6

INCOME, EXPENSE = "income", "expense"


@dataclass(frozen=True)
class MonthFigures:
    """One month's income and expenses (cents) and the movements counted."""

    month: Month
    income_cents: int
    expenses_cents: int
    count: int

    @property
    def net_cents(self) -> int:
        return self.income_cents - self.expenses_cents


def classify(entry: dict, own_numbers: set[str]) -> str | None:
    """Tell whether an entry is income, an expense, or neither (a move between
    the customer's own accounts)."""
    kind = entry["type"]
    if kind == "deposit":
        return INCOME
    if kind in ("withdrawal", "interest"):
        return EXPENSE
    if entry.get("counterparty_account_number") in own_numbers:
        return None
    if kind == "transfer_in":
        return INCOME
    if kind == "transfer_out":
        return EXPENSE
    return None


def monthly(
    owner: dict, months: int, zone: str, now: datetime | None = None
) -> list[MonthFigures]:
    """Return the last ``months`` months of the owner's figures, oldest first,
    the current month (to date) last; a month without movements shows zeros."""
    accounts = AccountModel().all_for_user(owner["_id"])
    own = {account["account_number"] for account in accounts}
    return figures(owner["_id"], own, months, zone, now or utc_now())


def figures(
    user_id: ObjectId, own_numbers: set[str], months: int, zone: str, now: datetime
) -> list[MonthFigures]:
    """The figures of the ``months`` months up to ``now``'s, oldest first."""
    current = Month.of(now, zone)
    window = [current.shifted(offset) for offset in range(1 - months, 1)]
    entries = TransactionModel().posted_for_user(
        user_id, window[0].start(zone), current.end(zone)
    )
    return tally(entries, own_numbers, window, zone)


def tally(
    entries: Iterable[dict], own_numbers: set[str], window: list[Month], zone: str
) -> list[MonthFigures]:
    """Sum ``entries`` into the months of ``window`` (by posting time)."""
    totals = {month: [0, 0, 0] for month in window}
    for entry in entries:
        kind = classify(entry, own_numbers)
        month = Month.of(entry["posted_at"], zone)
        if kind is None or month not in totals:
            continue
        total = totals[month]
        total[0 if kind == INCOME else 1] += entry["amount_cents"]
        total[2] += 1
    return [MonthFigures(month, *totals[month]) for month in window]
