"""Round-ups: the spare change of a customer's spending, saved into a goal.

With a goal whose ``round_up`` is on (at most one per customer, see
``app.models.goal``), each posted withdrawal, or transfer to another customer,
from the customer's primary account of ``X`` cents is followed by a transfer of
``(100 - X mod 100) mod 100`` cents from the primary account into that goal.
It runs exactly once per spending movement, under the work key
``round-up:<movement id>`` (``app.core.exactly_once``), and it is only a
nicety: skipped when the money is not there, when the goal is being closed,
on any refusal, and never an error for the spending that caused it.

The spending use cases (``app.core.spending``) call :func:`after_spending`
right after the spending posts; this module imports nothing of theirs. A
request that dies in between (or a keyed one settled by recovery) leaves its
round-up to :func:`catch_up`, a sweep of the journal run by the job runner,
like the audit feed: it reads the spending posted since its position and
rounds up each movement under the same work key, so a round-up is made once
whichever of the two gets there.
"""

import logging
from datetime import datetime, timedelta

from bson import ObjectId

from app.core import movements
from app.core.errors import DomainError
from app.core.exactly_once import WorkInProgress, run_once
from app.core.movements import Caller, Movement, TransferOrder
from app.core.recovery import posted_movement
from app.models import ledger_recovery, utc_now
from app.models.feed import FeedModel
from app.models.goal import GoalModel
from app.models.transaction import TransactionModel
from app.models.user import UserModel

log = logging.getLogger("app.roundups")

# The kinds of spending that round up: money leaving the customer.
SPENDING = ("withdrawal", "transfer_out")
# The journal sweep's position (app.models.feed).
FEED = "round_ups"


def spare_change(cents: int) -> int:
    """Return what rounds ``cents`` up to the next whole unit (0 when it is one)."""
    return (100 - cents % 100) % 100


def after_spending(
    caller: Caller, movement: Movement, *, currency: str, stale_after: timedelta
) -> bool:
    """Round up a posted withdrawal or transfer into the caller's round-up goal.

    Never raises: whatever stops the round-up is logged, and the spending
    stands as it is. ``stale_after`` (LEDGER_PENDING_TIMEOUT): when a round-up
    whose runner died may be settled by the next one for the same movement.
    Return whether a round-up was made now.
    """
    try:
        return _round_up(caller, movement, currency, stale_after)
    except (DomainError, WorkInProgress) as refusal:
        # Not enough money, the goal closing or closed, a frozen account, another
        # runner on it: the round-up is skipped, by the rule.
        log.info(
            "round-up of movement %s skipped: %s",
            movement.movement_id,
            type(refusal).__name__,
        )
    except Exception:  # noqa: BLE001 - the spending has posted; never fail it
        log.exception("round-up of movement %s failed", movement.movement_id)
    return False


def _round_up(
    caller: Caller, movement: Movement, currency: str, stale_after: timedelta
) -> bool:
    spent = movement.first
    owner_id = caller.user["_id"]
    if not _rounds_up(movement, owner_id):
        return False
    cents = spare_change(spent["amount_cents"])
    goals = GoalModel()
    goal = goals.round_up_goal(owner_id)
    if goal is None or goal.get("closing_at") is not None:
        return False
    since = goal.get("round_up_since")
    if since is not None and spent["posted_at"] < since:
        return False  # spent before the round-ups were asked for
    done = run_once(
        owner_id,
        f"round-up:{movement.movement_id}",
        lambda key: movements.transfer(
            caller,
            TransferOrder(
                to_account_number=goal["account_number"],
                cents=cents,
                description=f"Round-up into goal: {goal['name']}",
            ),
            currency=currency,
            key=key,
        ),
        stale_after=stale_after,
    )
    saved = next(e for e in done.movement.entries if e["type"] == "transfer_in")
    # The first time the round-ups reach the target, the goal is completed.
    goals.mark_completed(goal["_id"], saved["balance_after_cents"])
    return done.now


def _rounds_up(movement: Movement, owner_id: ObjectId) -> bool:
    """Tell whether a posted movement is spending that rounds up, by the rule."""
    spent = movement.first
    if spent["type"] not in SPENDING or spent["status"] != "posted":
        return False
    # The primary account shares its _id with its owner (AccountModel.ensure_primary).
    if spent["account_id"] != owner_id or spent["user_id"] != owner_id:
        return False
    if spent["type"] == "transfer_out":
        received = next(e for e in movement.entries if e["type"] == "transfer_in")
        # Between the customer's own accounts (goals included) money stays theirs.
        if received["user_id"] == owner_id:
            return False
    return spare_change(spent["amount_cents"]) != 0


def catch_up(
    overlap: timedelta,
    *,
    currency: str,
    stale_after: timedelta,
    now: datetime | None = None,
) -> int:
    """Round up the spending posted since the feed's position; count those made.

    Only customers with a round-up goal are looked at further (one look-up per
    customer per sweep); a transfer's other leg is read to know whose it was.
    """
    until = now or utc_now()
    feeds, users, goals = FeedModel(), UserModel(), GoalModel()
    since = feeds.position(FEED) - overlap
    saving: dict = {}  # user id -> their user document, or None: no round-ups
    made = 0
    for spent in TransactionModel().movements_posted_between(since, until):
        owner_id = spent["user_id"]
        if spent["type"] not in SPENDING or spent["account_id"] != owner_id:
            continue
        if spare_change(spent["amount_cents"]) == 0:
            continue
        if owner_id not in saving:
            has_goal = goals.round_up_goal(owner_id) is not None
            saving[owner_id] = users.find_by_id(owner_id) if has_goal else None
        user = saving[owner_id]
        if user is None:
            continue
        movement = posted_movement(spent["transfer_id"] or spent["_id"])
        if movement is None:
            continue
        caller = Caller(user, request_id=f"round-up:{movement.movement_id}")
        made += after_spending(
            caller, movement, currency=currency, stale_after=stale_after
        )
    pending = ledger_recovery.oldest_unjournalled()
    feeds.advance(FEED, until if pending is None else min(until, pending))
    return made
