"""Use cases of savings goals: open, list, show, change, pay in, take out, close.

A goal is a ledger account of kind ``goal`` (its money) plus a document of the
goals collection with the same ``_id`` (its name, target, round-up flag and
status; ``app.models.goal``). Money reaches or leaves a goal only as a transfer
between it and one of its owner's own accounts, through the ledger
(``app.core.movements.transfer``); the ledger itself refuses to credit a goal
from anyone but its owner.

Closing a goal
==============

``DELETE`` moves the whole balance back to the primary account and closes the
goal. It must survive a crash at any write and a retry at any time, and
contributions may race it (a deposit, a round-up, or the owner's own
``/transfers`` into the goal, which no goal rule sees). Every step below is
idempotent and a retry runs them again from the top:

1. **closing**: the goal document gets ``closing_at`` (and lets go of the
   round-ups) in one guarded write. From then on the goal use cases refuse
   deposits and withdrawals (``account_closed``) and no round-up is sent.
2. **drain**: movements in flight on the goal account (an incoming transfer's
   hold, an applied entry not yet released) are waited for; one older than
   LEDGER_PENDING_TIMEOUT is settled by recovery (``ledger_recovery.settle``),
   a younger one makes the close answer ``ledger_busy`` (retry safe).
3. **refund, round n**: the balance the goal account holds is moved to the
   primary account by a transfer run through
   ``exactly_once.run_once(owner, "goal-close:<goal>:<n>")``. The round number
   ``n`` is stored on the goal before its key is used and the refund's
   movement id is stored after, so a retry of round ``n`` finds its claim
   (done, in progress, or settled by recovery) instead of refunding again.
4. **close the account**: ``AccountModel.change_status(active -> closed)``,
   whose filter requires EMPTY (zero balance, no records, no holds) in the
   same write. If it misses, money arrived after the refund (or is arriving):
   the close goes round again with ``n + 1``, so each refund has its own key.
5. **closed**: the goal document gets ``closed_at``, frees its place, and
   every later ``DELETE`` renders the same body from it.

Why every cent ends in exactly one place: the goal account is never frozen,
so the refund can always debit it, and it stays open until step 4. A
contribution is either applied before the account closes, and then step 4's
EMPTY filter fails and a later round refunds it, or it comes after, and then
the ledger's ``status: active`` guard (on the hold and on the debit) refuses it
and the money never left its source. Step 4 is a single conditional write on
the account, so there is no moment in which the balance is non-zero and the
account closed. Each refund is one ledger transfer (both legs or neither),
named by a work key that is used for at most one movement; so a crash or a
second runner can neither lose a refund nor make it twice.
"""

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bson import ObjectId

from app.core import movements
from app.core.accounts import own_account
from app.core.calendar import add_months, bank_day
from app.core.errors import (
    AccountBusy,
    AccountClosed,
    AccountFrozen,
    AccountNotFound,
    DomainError,
    GoalLimitReached,
    GoalNotFound,
    InsufficientFunds,
    InvalidRequest,
    RoundUpTaken,
)
from app.core.exactly_once import WorkInProgress, run_once
from app.core.movements import Caller, Movement, MovementKey, TransferOrder
from app.core.recovery import posted_movement
from app.models import AlreadyTaken, ledger_recovery, utc_now
from app.models.account import GOAL_KIND, AccountModel
from app.models.goal import ROUND_UP_ON, GoalModel

log = logging.getLogger("app.goals")

# Rounds of refund-then-close one DELETE makes before it answers ledger_busy
# (money kept arriving, or a movement in flight did not finish meanwhile).
CLOSE_ATTEMPTS = 40
# The pause between two looks at a movement still in flight on the goal.
IN_FLIGHT_PAUSE = 0.005
# The fields PATCH may change.
EDITABLE = frozenset({"name", "target_cents", "target_date", "round_up"})


@dataclass(frozen=True)
class GoalRules:
    """What the bank's settings say about goals."""

    currency: str
    zone: str  # BANK_TIMEZONE: "today" and target dates are dates there
    max_goals: int  # MAX_GOALS_PER_CUSTOMER (closed goals do not count)
    stale_after: timedelta  # LEDGER_PENDING_TIMEOUT


@dataclass(frozen=True)
class NewGoal:
    """A goal to open."""

    name: str
    target_cents: int | None = None
    target_date: date | None = None
    round_up: bool = False


@dataclass(frozen=True)
class Progress:
    """How far a goal has come (see :func:`progress`)."""

    saved_cents: int
    remaining_cents: int | None
    percent: int | None
    on_track: bool | None
    needed_per_month_cents: int | None


@dataclass(frozen=True)
class Goal:
    """A goal as its owner sees it: the document's fields and its account's money."""

    id: ObjectId
    name: str
    account_number: str
    status: str
    balance_cents: int
    currency: str
    target_cents: int | None
    target_date: date | None
    round_up: bool
    progress: Progress
    created_at: datetime
    completed_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class GoalMovement:
    """A deposit into or a withdrawal from a goal: the goal after it, the transfer."""

    goal: Goal
    movement: Movement


@dataclass(frozen=True)
class ClosedGoal:
    """A closed goal and the refund of its balance (None: there was nothing)."""

    goal: Goal
    refund: Movement | None


class _NothingToRefund(DomainError):
    """The goal account holds nothing: a close round has no refund to make."""


# -- progress -------------------------------------------------------------------


def progress(
    balance_cents: int,
    target_cents: int | None,
    target_date: date | None,
    created_on: date,
    today: date,
    closed: bool = False,
) -> Progress:
    """Judge a goal's progress on ``today`` (a date in the bank's zone).

    - ``percent``: the balance as a share of the target, floored, at most 100.
    - ``needed_per_month``: what is still missing, spread evenly over the months
      left until the target date (counted up: 1 Jan to 10 Mar is 3 months; at
      least 1, so once the date has come it is all of it), rounded up to the cent,
      so paying it each month reaches the target.
    - ``on_track``: the balance is at least what an even saving from the day the
      goal was opened to its target date would have put by today; once the
      date has come, only a reached target is on track; a closed goal never is.
    """
    if target_cents is None:
        return Progress(balance_cents, None, None, None, None)
    remaining = max(0, target_cents - balance_cents)
    percent = min(100, max(0, balance_cents) * 100 // target_cents)
    if target_date is None:
        return Progress(balance_cents, remaining, percent, None, None)
    months = _months_left(today, target_date)
    needed = -(-remaining // months)
    if closed:
        on_track = False  # a closed goal saves nothing more
    elif remaining == 0:
        on_track = True
    elif today >= target_date:
        on_track = False
    else:
        elapsed = max(0, (today - created_on).days)
        total = (target_date - created_on).days
        on_track = balance_cents * total >= target_cents * elapsed
    return Progress(balance_cents, remaining, percent, on_track, needed)


def _months_left(today: date, target: date) -> int:
    """The whole months from ``today`` until ``target``, counted up; at least 1."""
    months = (target.year - today.year) * 12 + (target.month - today.month)
    if add_months(today, months) < target:
        months += 1
    return max(1, months)


def today_in(zone: str, now: datetime | None = None) -> date:
    """Return today's date in the bank's zone."""
    return bank_day(now or utc_now(), zone)


# -- reading --------------------------------------------------------------------


def list_goals(
    owner: dict,
    limit: int,
    *,
    after: tuple | None = None,
    status: str | None = None,
    rules: GoalRules,
    now: datetime | None = None,
) -> tuple[list[Goal], list[dict], bool]:
    """Return a page of the owner's goals, newest first, as goals and as documents
    (for the cursor), and whether more follow."""
    docs, has_more = GoalModel().list_for_user(owner["_id"], limit, after, status)
    accounts = AccountModel().find_by_ids([doc["_id"] for doc in docs])
    today = today_in(rules.zone, now)
    goals = [_view(doc, accounts[doc["_id"]], today) for doc in docs]
    return goals, docs, has_more


def get_goal(
    owner: dict, goal_id: str, *, rules: GoalRules, now: datetime | None = None
) -> Goal:
    """Return one of the owner's goals.

    :raises GoalNotFound: no such goal of the owner's.
    """
    doc = _own_goal(owner, goal_id)
    account = AccountModel().find_by_id(doc["_id"])
    return _view(doc, account, today_in(rules.zone, now))


def open_goals(
    goal_accounts: list[dict], *, rules: GoalRules, now: datetime | None = None
) -> list[Goal]:
    """Return the goals held in ``goal_accounts`` (an owner's goal accounts, read
    already) that are not closed, in the order given: one read of the goals."""
    docs = GoalModel().find_by_ids([account["_id"] for account in goal_accounts])
    today = today_in(rules.zone, now)
    return [
        _view(docs[account["_id"]], account, today)
        for account in goal_accounts
        if account["_id"] in docs and docs[account["_id"]]["status"] != "closed"
    ]


def _own_goal(owner: dict, goal_id: str | ObjectId) -> dict:
    doc = GoalModel().find_owned(owner["_id"], goal_id)
    if doc is None:
        raise GoalNotFound()
    return doc


def _view(
    doc: dict,
    account: dict,
    today: date,
    balance_cents: int | None = None,
    complete: bool = True,
) -> Goal:
    """Shape a goal from its document and account.

    ``balance_cents``: the balance to show, if not the account's now (right after
    a movement, the movement's own figure, so a replay shows the same). With
    ``complete``, an active goal whose balance reaches its target is completed
    first (money may have come in by a plain transfer, which no goal rule saw).
    """
    balance = account["balance_cents"] if balance_cents is None else balance_cents
    if complete and _reached(doc, balance):
        doc = GoalModel().mark_completed(doc["_id"], balance) or doc
    target_date = _parse_date(doc["target_date"])
    closed_at = doc.get("closed_at")
    # A closed goal is judged as on the day it closed, so its body never changes.
    if closed_at is not None:
        today = min(today, date.fromisoformat(doc["closed_on"]))
    return Goal(
        id=doc["_id"],
        name=doc["name"],
        account_number=doc["account_number"],
        status=doc["status"],
        balance_cents=balance,
        currency=account["currency"],
        target_cents=doc["target_cents"],
        target_date=target_date,
        round_up=doc["round_up_slot"] == ROUND_UP_ON,
        progress=progress(
            balance,
            doc["target_cents"],
            target_date,
            date.fromisoformat(doc["created_on"]),
            today,
            closed=closed_at is not None,
        ),
        created_at=doc["created_at"],
        completed_at=doc.get("completed_at"),
        closed_at=closed_at,
    )


def _reached(doc: dict, balance_cents: int) -> bool:
    """Tell whether an active, open goal's target is reached by ``balance_cents``."""
    return (
        doc["status"] == "active"
        and doc.get("closing_at") is None
        and doc["target_cents"] is not None
        and balance_cents >= doc["target_cents"]
    )


def _parse_date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


# -- opening and changing -----------------------------------------------------------


def open_goal(
    owner: dict, new: NewGoal, *, rules: GoalRules, now: datetime | None = None
) -> Goal:
    """Open a goal (an account of kind goal at 0.00 and its document) for the owner.

    :raises InvalidRequest: the target date is not in the future.
    :raises GoalLimitReached: the owner holds MAX_GOALS_PER_CUSTOMER open goals.
    :raises RoundUpTaken: the goal asks for the round-ups, which another holds.
    """
    today = today_in(rules.zone, now)
    _check_future(new.target_date, today)
    goals, accounts = GoalModel(), AccountModel()
    # Refunds and default transfers go to the primary account: make sure it is.
    accounts.ensure_primary(owner, rules.currency)
    # Judged first on a read, so the common refusal costs no account; the
    # unique indexes of the insert decide under a race.
    if new.round_up and goals.round_up_goal(owner["_id"]) is not None:
        raise RoundUpTaken()
    if len(goals.taken_places(owner["_id"])) >= rules.max_goals:
        raise GoalLimitReached()
    goal_id = ObjectId()
    # The account first: a crash before the document leaves an empty account
    # no one knows the number of, and no goal half made.
    account = accounts.create(owner, rules.currency, kind=GOAL_KIND, account_id=goal_id)
    created = utc_now()
    doc = {
        "_id": goal_id,
        "user_id": owner["_id"],
        "account_number": account["account_number"],
        "name": new.name,
        "target_cents": new.target_cents,
        "target_date": _date_text(new.target_date),
        "round_up": new.round_up,
        "round_up_slot": ROUND_UP_ON if new.round_up else goal_id,
        # Spending posted from then on rounds up (app.core.roundups).
        "round_up_since": created if new.round_up else None,
        "status": "active",
        "created_at": created,
        # The day it opened, in the bank's zone: where on_track's plan starts.
        "created_on": today.isoformat(),
        "completed_at": None,
        "closing_at": None,
        "closed_at": None,
    }
    placed, why = goals.insert_within(doc, rules.max_goals)
    if placed is None:
        # Lost a race for the last place or the round-ups: the account opened
        # for it is empty and no one knows its number; close it.
        accounts.change_status(account["account_number"], "active", "closed")
        raise RoundUpTaken() if why == "round_up" else GoalLimitReached()
    return _view(placed, account, today, complete=False)


def update_goal(
    owner: dict,
    goal_id: str,
    changes: dict,
    *,
    rules: GoalRules,
    now: datetime | None = None,
) -> Goal:
    """Change a goal's name, target amount, target date or round-up flag.

    ``changes`` holds some of ``name``, ``target_cents``, ``target_date`` (None
    clears a target) and ``round_up``. The completion is judged again: a goal
    whose new target its balance reaches is completed.

    :raises GoalNotFound: no such goal of the owner's.
    :raises InvalidRequest: the target date is not in the future.
    :raises AccountClosed: the goal is closed (or being closed).
    :raises RoundUpTaken: round-ups asked for, and another goal holds them.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    today = today_in(rules.zone, now)
    doc = _own_goal(owner, goal_id)
    update: dict = {}
    if "name" in changes:
        update["name"] = changes["name"]
    if "target_cents" in changes:
        update["target_cents"] = changes["target_cents"]
    if "target_date" in changes:
        _check_future(changes["target_date"], today)
        update["target_date"] = _date_text(changes["target_date"])
    if "round_up" in changes:
        update["round_up"] = changes["round_up"]
        update["round_up_slot"] = ROUND_UP_ON if changes["round_up"] else doc["_id"]
        if changes["round_up"] != (doc["round_up_slot"] == ROUND_UP_ON):
            update["round_up_since"] = utc_now() if changes["round_up"] else None
    if doc.get("closing_at") is not None:
        raise AccountClosed("target", "The goal is closed.")
    if update:
        try:
            changed = GoalModel().update_open(doc["_id"], update)
        except AlreadyTaken:
            raise RoundUpTaken() from None
        if changed is None:
            raise AccountClosed("target", "The goal is closed.")
        doc = changed
    account = AccountModel().find_by_id(doc["_id"])
    return _view(doc, account, today)


def _check_future(target_date: date | None, today: date) -> None:
    if target_date is not None and target_date <= today:
        raise InvalidRequest("target_date", "Must be a future date.")


def _date_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# -- money in and out --------------------------------------------------------------


def deposit(
    caller: Caller,
    goal_id: str,
    cents: int,
    from_account_number: str | None,
    *,
    rules: GoalRules,
    key: MovementKey | None = None,
) -> GoalMovement:
    """Move money from one of the caller's own accounts (default: primary) into
    the goal, exactly once per movement key; complete the goal the first time
    its balance reaches the target.

    :raises GoalNotFound: no such goal of the caller's.
    :raises AccountNotFound: the source is not one of the caller's own
        (non-goal) accounts.
    :raises AccountClosed: the goal is closed (or being closed), or the source is.
    :raises InsufficientFunds: the source's balance is lower than the amount.
    :raises AccountFrozen: either account is frozen.
    :raises AccountBusy: an account kept changing; a retry is safe.
    """
    doc = _own_goal(caller.user, goal_id)
    _check_open(doc, "target")
    source = _own_plain_account(caller.user, from_account_number, rules.currency)
    movement = movements.transfer(
        caller,
        TransferOrder(
            to_account_number=doc["account_number"],
            cents=cents,
            from_account_number=source["account_number"],
            description=f"Into goal: {doc['name']}",
        ),
        currency=rules.currency,
        key=key,
    )
    return goal_movement(movement, rules=rules)


def withdraw(
    caller: Caller,
    goal_id: str,
    cents: int,
    to_account_number: str | None,
    *,
    rules: GoalRules,
    key: MovementKey | None = None,
) -> GoalMovement:
    """Move money out of the goal into one of the caller's own accounts (default:
    primary), exactly once per movement key. A completed goal stays completed.

    :raises GoalNotFound: no such goal of the caller's.
    :raises AccountNotFound: the target is not one of the caller's own
        (non-goal) accounts.
    :raises AccountClosed: the goal is closed (or being closed), or the target is.
    :raises InsufficientFunds: the goal's balance is lower than the amount.
    :raises AccountFrozen: either account is frozen.
    :raises AccountBusy: an account kept changing; a retry is safe.
    """
    doc = _own_goal(caller.user, goal_id)
    _check_open(doc, "source")
    target = _own_plain_account(caller.user, to_account_number, rules.currency)
    movement = movements.transfer(
        caller,
        TransferOrder(
            to_account_number=target["account_number"],
            cents=cents,
            from_account_number=doc["account_number"],
            description=f"From goal: {doc['name']}",
        ),
        currency=rules.currency,
        key=key,
        from_goal=True,
    )
    return goal_movement(movement, rules=rules)


def goal_movement(
    movement: Movement, *, rules: GoalRules, now: datetime | None = None
) -> GoalMovement:
    """Pair a posted transfer into or out of a goal with that goal, as it stood
    right after the transfer (its leg's balance).

    Used for the live answer and for the replay of a movement recovery settled,
    so the two agree. An active goal whose target the balance reaches is
    completed here (the first time only: the update is guarded).
    """
    by_account = {entry["account_id"]: entry for entry in movement.entries}
    docs = GoalModel().find_by_ids(list(by_account))
    if len(docs) != 1:
        raise ValueError(f"movement {movement.movement_id} is not a goal's")
    ((goal_id, doc),) = docs.items()
    leg = by_account[goal_id]
    account = AccountModel().find_by_id(goal_id)
    goal = _view(
        doc,
        account,
        today_in(rules.zone, now),
        balance_cents=leg["balance_after_cents"],
        # Only money coming in completes a goal.
        complete=leg["type"] == "transfer_in",
    )
    return GoalMovement(goal, movement)


def _check_open(doc: dict, side: str) -> None:
    """Refuse money in or out of a goal that is closed or being closed."""
    if doc.get("closing_at") is not None:
        raise AccountClosed(side, "The goal is closed.")


def _own_plain_account(user: dict, account_number: str | None, currency: str) -> dict:
    """Return the user's named account (default primary), refusing a goal.

    :raises AccountNotFound: no such account of the user's, or it is a goal.
    """
    account = own_account(user, account_number, currency)
    if account.get("kind") == GOAL_KIND:
        raise AccountNotFound()
    return account


# -- closing ----------------------------------------------------------------------


def close_goal(
    caller: Caller, goal_id: str, *, rules: GoalRules, now: datetime | None = None
) -> ClosedGoal:
    """Move the goal's whole balance back to the primary account and close it.

    Safe to repeat: a retry after a crash finishes the job and never refunds
    twice, and a closed goal answers with the same result again (see the
    module's docstring for the protocol and why it holds).

    :raises GoalNotFound: no such goal of the caller's.
    :raises AccountBusy: a movement of the goal is still in flight, money kept
        arriving, or another close of it is running; a retry is safe.
    :raises AccountFrozen: the goal's account (or the primary) is frozen.
    :raises AccountClosed: the primary account is closed.
    """
    goals = GoalModel()
    doc = _own_goal(caller.user, goal_id)
    if doc["closed_at"] is None:
        if doc["closing_at"] is None:
            # Refused before anything changes when the refund cannot be made now.
            _check_can_refund(caller.user, doc["_id"], rules.currency)
        doc = goals.begin_close(doc["_id"], utc_now())  # step 1
        _empty_and_close(caller, doc["_id"], rules)  # steps 2 to 4
        closed = utc_now()
        doc = goals.finish_close(  # step 5
            doc["_id"], closed, today_in(rules.zone, closed).isoformat()
        )
    account = AccountModel().find_by_id(doc["_id"])
    refunds = doc.get("refunds") or {}
    refund = None
    if refunds:
        # The first round's refund: the balance the goal held when it closed
        # (a later round only sends back what raced the close).
        first = refunds[min(refunds, key=int)]
        refund = _posted(first)
    return ClosedGoal(_view(doc, account, today_in(rules.zone, now)), refund)


def _check_can_refund(owner: dict, goal_id: ObjectId, currency: str) -> None:
    """Refuse a close whose refund the ledger would refuse (a frozen goal
    account, a frozen or closed primary), before the goal starts closing."""
    account = AccountModel().find_by_id(goal_id)
    if account["status"] == "frozen":
        raise AccountFrozen("source")
    primary = own_account(owner, None, currency)
    if primary["status"] == "frozen":
        raise AccountFrozen("target")
    if primary["status"] == "closed":
        raise AccountClosed("target")


def _posted(movement_id: ObjectId) -> Movement:
    movement = posted_movement(movement_id)
    if movement is None:  # pragma: no cover - a recorded refund is posted
        raise RuntimeError(f"refund {movement_id} is not journalled")
    return movement


def _empty_and_close(caller: Caller, goal_id: ObjectId, rules: GoalRules) -> None:
    """Refund the goal's balance and close its account, round after round, until
    the account closes empty (steps 2 to 4 of the module's protocol)."""
    goals, accounts = GoalModel(), AccountModel()
    owner = caller.user
    primary = own_account(owner, None, rules.currency)
    for _attempt in range(CLOSE_ATTEMPTS):
        doc = goals.find_by_id(goal_id)
        account = accounts.find_by_id(goal_id)
        if account["status"] == "closed":
            return
        if account["status"] == "frozen":
            raise AccountFrozen("source")
        if _drain(account, rules.stale_after):  # step 2
            continue
        close_round = doc["close_round"]
        if str(close_round) not in doc["refunds"]:  # step 3
            try:
                done = run_once(
                    owner["_id"],
                    f"goal-close:{goal_id}:{close_round}",
                    lambda key: _refund(caller, goal_id, primary, key, rules),
                    stale_after=rules.stale_after,
                )
            except _NothingToRefund:
                pass  # the claim is freed; the account may close as it is
            except InsufficientFunds:
                continue  # a withdrawal landed after the read: look again
            except WorkInProgress:
                raise AccountBusy() from None  # another close runs this round
            else:
                goals.record_refund(goal_id, close_round, done.movement.movement_id)
                continue
        elif account["balance_cents"] != 0:
            # This round's refund is made, yet money is there: it came after.
            goals.next_round(goal_id, close_round)
            continue
        # Step 4: closes only if EMPTY in the same write, else another round.
        if accounts.change_status(account["account_number"], "active", "closed"):
            return
    raise AccountBusy()


def _refund(
    caller: Caller, goal_id: ObjectId, primary: dict, key: MovementKey, rules: GoalRules
) -> Movement:
    """Move what the goal account holds now to the primary account (one round)."""
    account = AccountModel().find_by_id(goal_id)
    if account["balance_cents"] <= 0:
        raise _NothingToRefund()
    doc = GoalModel().find_by_id(goal_id)
    return movements.transfer(
        caller,
        TransferOrder(
            to_account_number=primary["account_number"],
            cents=account["balance_cents"],
            from_account_number=account["account_number"],
            description=f"Goal closed: {doc['name']}",
        ),
        currency=rules.currency,
        key=key,
        from_goal=True,
    )


def _drain(account: dict, stale_after: timedelta) -> bool:
    """Deal with movements in flight on the goal account; True to look again.

    One older than ``stale_after`` is abandoned: recovery settles it now (the
    same as ``flask ledger recover`` would). A younger one may still be running:
    wait a moment for it.
    """
    cutoff = utc_now() - stale_after
    stale: list[ObjectId] = []
    young = False
    for hold in account["holds"]:
        if hold["at"] <= cutoff:
            stale.append(hold["out"])
        else:
            young = True
    for record in account["pending_entries"]:
        entry = record.get("entry")
        if entry is not None and entry["created_at"] <= cutoff:
            stale.append(entry["transfer_id"] or entry["_id"])
        else:
            young = True
    for movement_id in stale:
        ledger_recovery.settle(movement_id)
    if young:
        time.sleep(IN_FLIGHT_PAUSE)
    return bool(stale) or young
