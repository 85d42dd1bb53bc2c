"""The events customers are notified of, derived from the records that hold them.

No request queues these itself: each event already has a durable record, and a
sweep (the ``notifications`` job, :func:`derive`) turns the records written
since its feed's position into notifications, as the audit entries of
movements and the review flags are derived from the journal
(``app.core.audit_feed``): a feed position that moves only forward, an overlap
re-read on top, and a key per event occurrence, so a notification can be late
but is never lost, and a re-sweep queues nothing twice. The records:

- the journal (``sweep_journal``): money received from another customer
  (``incoming_transfer``, to the receiving account's owner) and any deposit,
  withdrawal or transfer of at least NOTIFY_LARGE_AMOUNT (``large_movement``,
  to the owner of the account it left or entered first);
- the login history: a successful login from an address and user agent pair
  the user never logged in from before (``new_login``), but not the user's
  very first login; judged against the history in (time, id) order, so every
  sweep judges a login alike;
- the audit log: ``password_change`` and ``password_reset`` (target: the user),
  ``loan_approved`` / ``loan_rejected`` (target: the loan), and the outcomes of
  approvals of large movements (target: the approval);
- goals: ``completed_at``, set once by the guarded completion;
- standing orders' runs: each ``failed`` run, which records whether it
  suspended the order (``scheduled_transfer_failed`` /
  ``scheduled_transfer_suspended``);
- loans: an instalment past its due date not fully repaid, judged from the
  loan's schedule and account on each run (``loan_instalment_overdue``, once
  per instalment).

A feed that never ran starts where it is first set up (:func:`start_feeds`, at
start-up), so a bank with a history is not notified of all its past.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from bson import ObjectId

from app.core.audit_feed import sweep_journal
from app.core.calendar import bank_day
from app.core.loans import state_of
from app.core.notifications import plan, queue_planned
from app.models import utc_now
from app.models.account import AccountModel
from app.models.approval import ApprovalModel
from app.models.audit import AuditModel
from app.models.feed import FeedModel
from app.models.goal import GoalModel
from app.models.loan import LoanModel
from app.models.scheduled_transfer import ScheduledTransferModel
from app.models.session import LoginAttemptModel
from app.models.transaction import TransactionModel
from app.models.user import UserModel

MOVEMENTS_FEED = "notify_movements"
LOGINS_FEED = "notify_logins"
AUDIT_FEED = "notify_audit"
GOALS_FEED = "notify_goals"
RUNS_FEED = "notify_scheduled_runs"
FEEDS = (MOVEMENTS_FEED, LOGINS_FEED, AUDIT_FEED, GOALS_FEED, RUNS_FEED)
BATCH = 500
# The audit actions notified, by what their target is.
USER_ACTIONS = ("password_change", "password_reset")
LOAN_ACTIONS = ("loan_approved", "loan_rejected")
APPROVAL_ACTIONS = (
    "approval_approved", "approval_rejected", "approval_expired", "approval_failed",
)  # fmt: skip
LARGE_TYPES = ("deposit", "withdrawal", "transfer_out")
# A user agent is the client's text: shown cut short.
USER_AGENT_SHOWN = 120


@dataclass(frozen=True)
class NotifyRules:
    """What the bank's settings say about notifications."""

    large_cents: int  # NOTIFY_LARGE_AMOUNT
    currency: str  # CURRENCY
    zone: str  # BANK_TIMEZONE
    overlap: timedelta  # how far each sweep re-reads (see app.core.audit_feed)


def money(cents: int, currency: str) -> str:
    """Render cents as plain words do: ``1,000.00 EUR`` (exact, from cents)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d} {currency}"


def start_feeds(now: datetime | None = None) -> None:
    """Start the feeds that never ran at ``now`` (see the module docstring)."""
    feeds = FeedModel()
    for name in FEEDS:
        feeds.start(name, now or utc_now())


def derive(
    rules: NotifyRules,
    now: datetime | None = None,
    *,
    day_of: datetime | None = None,
) -> int:
    """Queue the notification of every event recorded since the last sweep.

    ``now``: how far the sweeps read (default: the clock); ``day_of``: the
    moment whose bank day judges overdue instalments (default: ``now``).
    Return how many messages were queued now.
    """
    until = now or utc_now()
    return (
        sweep_journal(
            MOVEMENTS_FEED,
            rules.overlap,
            lambda batch, _until: _movements(batch, rules),
            until,
        )
        + _sweep(LOGINS_FEED, rules, LoginAttemptModel().successes_between,
                 _logins, until)
        + _sweep(AUDIT_FEED, rules, _audited, _audit_events, until)
        + _sweep(GOALS_FEED, rules, GoalModel().completed_between, _goals, until)
        + _sweep(RUNS_FEED, rules, ScheduledTransferModel().failed_runs_between,
                 _failed_runs, until)
        + _overdue_instalments(rules, day_of or until)
    )  # fmt: skip


def _sweep(
    feed: str,
    rules: NotifyRules,
    read: Callable[[datetime, datetime], Iterable[dict]],
    derive_batch: Callable[[list[dict], NotifyRules], int],
    until: datetime,
) -> int:
    """Give the records written since feed ``feed``'s position to ``derive_batch``,
    in batches, then move the position to ``until``.

    Each of these records is written with its own time taken just before its
    insert, so one still in flight lands "in the past" by that moment only: the
    overlap re-reads it on the next sweep.
    """
    feeds = FeedModel()
    since = feeds.position(feed) - rules.overlap
    records = iter(read(since, until))
    queued = 0
    while batch := list(islice(records, BATCH)):
        queued += derive_batch(batch, rules)
    feeds.advance(feed, until)
    return queued


def _users(ids: Iterable[ObjectId | None]) -> dict[ObjectId, dict]:
    return UserModel().find_by_ids([i for i in ids if i is not None])


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _words(reason: str | None) -> str:
    return (reason or "unknown").replace("_", " ")


# -- the journal ----------------------------------------------------------------


def _movements(batch: list[dict], rules: NotifyRules) -> int:
    transfers = [entry for entry in batch if entry["type"] == "transfer_out"]
    legs = TransactionModel().find_entries([entry["pair_id"] for entry in transfers])
    users = _users(
        [entry["user_id"] for entry in batch]
        + [leg["user_id"] for leg in legs.values()]
    )
    planned = []
    for entry in batch:
        owner = users.get(entry["user_id"])
        if (
            owner is not None
            and entry["type"] in LARGE_TYPES
            and entry["amount_cents"] >= rules.large_cents
        ):
            planned += plan(
                owner, "large_movement", f"movement:{entry['_id']}:large",
                "Large movement on your account", _large_text(entry),
                now=entry["posted_at"],
            )  # fmt: skip
        leg = (
            legs.get(entry.get("pair_id")) if entry["type"] == "transfer_out" else None
        )
        receiver = users.get(leg["user_id"]) if leg else None
        # Money moved between one customer's own accounts is no news to them.
        if receiver is not None and leg["user_id"] != entry["user_id"]:
            planned += plan(
                receiver, "incoming_transfer", f"movement:{entry['_id']}:incoming",
                "Money received", _incoming_text(entry, leg),
                now=entry["posted_at"],
            )  # fmt: skip
    return queue_planned(planned)


def _large_text(entry: dict) -> str:
    amount = money(entry["amount_cents"], entry["currency"])
    number = entry["account_number"]
    if entry["type"] == "deposit":
        return f"A deposit of {amount} was made into your account {number}."
    if entry["type"] == "withdrawal":
        return f"A withdrawal of {amount} was made from your account {number}."
    return (
        f"A transfer of {amount} left your account {number} for account "
        f"{entry['counterparty_account_number']}."
    )


def _incoming_text(entry: dict, leg: dict) -> str:
    text = (
        f"{money(leg['amount_cents'], leg['currency'])} arrived in your account "
        f"{leg['account_number']} from account {entry['account_number']}."
    )
    if entry.get("description"):
        text += f" Reference: {entry['description']}"
    return text


# -- the login history -------------------------------------------------------------


def _logins(batch: list[dict], rules: NotifyRules) -> int:
    history = LoginAttemptModel()
    users = _users(attempt["user_id"] for attempt in batch)
    planned = []
    for attempt in batch:
        user = users.get(attempt["user_id"])
        if user is None:
            continue
        device = (attempt.get("ip"), attempt.get("user_agent"))
        first_from_device = history.first_success(user["_id"], device)
        if first_from_device is None or first_from_device["_id"] != attempt["_id"]:
            continue  # the user logged in from this pair before
        first = history.first_success(user["_id"])
        if first is None or first["_id"] == attempt["_id"]:
            continue  # the very first login: nothing to compare it with
        agent = (attempt.get("user_agent") or "an unknown client")[:USER_AGENT_SHOWN]
        planned += plan(
            user, "new_login", f"login:{attempt['_id']}",
            "New sign-in to your account",
            f"Someone signed in to your account at {_at(attempt['created_at'])} "
            f"from a new device or address: {attempt.get('ip') or 'unknown address'}"
            f", {agent}. If this was not you, change your password now.",
            security=True, now=attempt["created_at"],
        )  # fmt: skip
    return queue_planned(planned)


# -- the audit log -----------------------------------------------------------------


def _audited(since: datetime, until: datetime) -> Any:
    actions = USER_ACTIONS + LOAN_ACTIONS + APPROVAL_ACTIONS
    return AuditModel().actions_between(actions, since, until)


def _audit_events(batch: list[dict], rules: NotifyRules) -> int:
    targets = [ObjectId(e["target"]) for e in batch if ObjectId.is_valid(e["target"])]
    loans = {loan["_id"]: loan for loan in LoanModel().find_many(targets)}
    approvals = ApprovalModel().find_many(targets)
    owner_ids: list[ObjectId | None] = [
        *targets,
        *(loan["user_id"] for loan in loans.values()),
        *(approval["user_id"] for approval in approvals.values()),
    ]
    users = _users(owner_ids)
    planned = []
    for entry in batch:
        if not ObjectId.is_valid(entry["target"]):
            continue
        target = ObjectId(entry["target"])
        action = entry["action"]
        key = f"audit:{entry['_id']}"
        if action in USER_ACTIONS and target in users:
            event, title, body = _password_text(action, entry["at"])
            planned += plan(
                users[target], event, key, title, body, security=True, now=entry["at"]
            )
        elif action in LOAN_ACTIONS and target in loans:
            loan = loans[target]
            owner = users.get(loan["user_id"])
            if owner is not None:
                event, title, body = _loan_text(action, loan, entry, rules)
                planned += plan(owner, event, key, title, body, now=entry["at"])
        elif action in APPROVAL_ACTIONS and target in approvals:
            approval = approvals[target]
            owner = users.get(approval["user_id"])
            if owner is not None:
                event, title, body = _approval_text(action, approval, entry)
                planned += plan(owner, event, key, title, body, now=entry["at"])
    return queue_planned(planned)


def _password_text(action: str, at: datetime) -> tuple[str, str, str]:
    if action == "password_change":
        return (
            "password_changed", "Your password was changed",
            f"Your password was changed at {_at(at)}; your other sessions were "
            "ended. If you did not change it, reset your password and contact "
            "the bank now.",
        )  # fmt: skip
    return (
        "password_reset", "Your password was reset",
        f"Your password was reset with a one-time code at {_at(at)}; every "
        "session was ended. If you did not ask for it, contact the bank now.",
    )  # fmt: skip


def _loan_text(
    action: str, loan: dict, entry: dict, rules: NotifyRules
) -> tuple[str, str, str]:
    amount = money(loan["principal_cents"], loan.get("currency") or rules.currency)
    if action == "loan_approved":
        return (
            "loan_approved", "Your loan was approved",
            f"Your application for a loan of {amount} over {loan['term_months']} "
            "months was approved.",
        )  # fmt: skip
    reason = (entry.get("details") or {}).get("reason")
    return (
        "loan_rejected", "Your loan application was declined",
        f"Your application for a loan of {amount} was declined"
        + (f": {reason}" if reason else ".")
        + ("" if not reason or reason.endswith(".") else "."),
    )  # fmt: skip


def _approval_text(action: str, approval: dict, entry: dict) -> tuple[str, str, str]:
    amount = money(approval["amount_cents"], approval["currency"])
    what = (
        f"Your withdrawal of {amount} from account {approval['from_account_number']}"
        if approval["kind"] == "withdrawal"
        else f"Your transfer of {amount} from account "
        f"{approval['from_account_number']} to account "
        f"{approval['to_account_number']}"
    )
    reason = (entry.get("details") or {}).get("reason")
    if action == "approval_approved":
        return ("approval_approved", "Large movement approved",
                f"{what} was approved by the bank and made.")  # fmt: skip
    if action == "approval_rejected":
        return (
            "approval_rejected", "Large movement rejected",
            f"{what} was rejected by the bank"
            + (f" ({reason})" if reason else "") + "; nothing was moved.",
        )  # fmt: skip
    if action == "approval_expired":
        return (
            "approval_expired", "Large movement expired",
            f"{what} was not decided in time and expired; nothing was moved.",
        )  # fmt: skip
    return (
        "approval_failed", "Large movement could not be made",
        f"{what} was approved but could not be made ({_words(reason)}); nothing "
        "was moved.",
    )  # fmt: skip


# -- goals, standing orders, loans ----------------------------------------------


def _goals(batch: list[dict], rules: NotifyRules) -> int:
    users = _users(goal["user_id"] for goal in batch)
    planned = []
    for goal in batch:
        owner = users.get(goal["user_id"])
        if owner is None:
            continue
        target = goal.get("target_cents")
        reached = f" its target of {money(target, rules.currency)}" if target else ""
        planned += plan(
            owner, "goal_completed", f"goal:{goal['_id']}:completed",
            "Savings goal reached",
            f"Your savings goal \u201c{goal['name']}\u201d reached{reached}.",
            now=goal["completed_at"],
        )  # fmt: skip
    return queue_planned(planned)


def _failed_runs(batch: list[dict], rules: NotifyRules) -> int:
    orders = {
        doc["_id"]: doc
        for doc in ScheduledTransferModel().find_many([r["order_id"] for r in batch])
    }
    users = _users(run["user_id"] for run in batch)
    planned = []
    for run in batch:
        owner, order = users.get(run["user_id"]), orders.get(run["order_id"])
        if owner is None or order is None:
            continue
        text = (
            f"The scheduled transfer of "
            f"{money(order['amount_cents'], order.get('currency') or rules.currency)}"
            f" from account {order['from_account_number']} to account "
            f"{order['to_account_number']} due on {run['due_date']} could not be "
            f"made ({_words(run.get('reason'))})."
        )
        if run.get("suspends"):
            event, title = (
                "scheduled_transfer_suspended",
                "Scheduled transfer suspended",
            )
            text += (
                " After several failed payments in a row the order is suspended: "
                "resume it once the account can pay."
            )
        else:
            event, title = "scheduled_transfer_failed", "Scheduled transfer failed"
        planned += plan(
            owner, event, f"scheduled_run:{run['_id']}", title, text,
            now=run["created_at"],
        )  # fmt: skip
    return queue_planned(planned)


def _overdue_instalments(rules: NotifyRules, now: datetime) -> int:
    """Queue a notice of each instalment overdue today (once per instalment).

    The loans with an overdue watermark (an indexed query, the few in arrears)
    are judged from their schedule and account, as the loan's page shows it.
    """
    today = bank_day(now, rules.zone)
    loans = list(LoanModel().overdue(today.isoformat()))
    if not loans:
        return 0
    accounts = AccountModel().find_by_ids([loan["_id"] for loan in loans])
    users = _users(loan["user_id"] for loan in loans)
    planned = []
    for loan in loans:
        owner = users.get(loan["user_id"])
        if owner is None or loan["_id"] not in accounts:
            continue
        state = state_of(loan, accounts[loan["_id"]], today)
        currency = loan.get("currency") or rules.currency
        for row in state.rows:
            if row.status != "overdue":
                continue
            owed = row.instalment_cents - row.paid_cents
            planned += plan(
                owner, "loan_instalment_overdue",
                f"loan:{loan['_id']}:instalment:{row.number}:overdue",
                "Loan instalment overdue",
                f"Instalment {row.number} of your loan, due on {row.due_date}, is "
                f"overdue: {money(owed, currency)} of "
                f"{money(row.instalment_cents, currency)} is still to pay.",
                now=now,
            )  # fmt: skip
    return queue_planned(planned)
