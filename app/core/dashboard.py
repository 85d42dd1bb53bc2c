"""A customer's first screen: what they hold, this month so far, recent movements.

Read in a fixed number of queries whatever the history: the customer's
accounts (one read, goals' and loans' included), their open goals (one), this
month's entries (one, by the index on user and posting time) and the last
five journal entries (one, newest first across their accounts).

``total_balance`` is what the customer holds: their checking, savings and
goal accounts. A loan's account (a negative balance: what they owe) shows in
``accounts`` but is not subtracted: a "total" that fell when a loan was
disbursed into the customer's account would count the same money twice in
opposite directions (the bank's trial balance does count loans, negative).
"""

from dataclasses import dataclass
from datetime import datetime

from app.core import analytics, goals
from app.core.analytics import MonthFigures
from app.core.goals import Goal, GoalRules
from app.models import utc_now
from app.models.account import GOAL_KIND, LOAN_KIND, AccountModel
from app.models.transaction import TransactionModel

RECENT = 5


@dataclass(frozen=True)
class Dashboard:
    """The figures of the first screen (amounts in cents)."""

    total_cents: int
    currency: str
    accounts: list[dict]
    this_month: MonthFigures
    recent: list[dict]
    goals: list[Goal]


def dashboard(
    owner: dict, *, rules: GoalRules, now: datetime | None = None
) -> Dashboard:
    """Gather the owner's first screen.

    ``accounts`` are the owner's accounts that are not goals and not closed,
    the primary first; ``goals`` their goals that are not closed.
    """
    now = now or utc_now()
    held = AccountModel().all_for_user(owner["_id"])
    shown = sorted(
        (a for a in held if a.get("kind") != GOAL_KIND and a["status"] != "closed"),
        key=lambda account: not account.get("primary", False),
    )
    goal_accounts = [a for a in held if a.get("kind") == GOAL_KIND]
    total = sum(a["balance_cents"] for a in held if a.get("kind") != LOAN_KIND)
    own = {account["account_number"] for account in held}
    (this_month,) = analytics.figures(owner["_id"], own, 1, rules.zone, now)
    recent, _more = TransactionModel().list_posted(
        RECENT, account_ids=[account["_id"] for account in held]
    )
    return Dashboard(
        total_cents=total,
        currency=rules.currency,
        accounts=shown,
        this_month=this_month,
        recent=recent,
        goals=goals.open_goals(goal_accounts, rules=rules, now=now),
    )
