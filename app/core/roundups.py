"""Round-ups: the spare change of a customer's spending, saved into a goal.

With a goal whose ``round_up`` is on (at most one per customer, see
``app.models.goal``), each posted withdrawal, or transfer to another customer,
from the customer's primary account of ``X`` cents is followed by a transfer of
``(100 - X mod 100) mod 100`` cents from the primary account into that goal.
It runs exactly once per spending movement, under the work key
``round-up:<movement id>`` (``app.core.exactly_once``), and it is only a
nicety: skipped when the money is not there, when the goal is being closed,
on any refusal, and never an error for the spending that caused it.

The spending use cases (``app.core.spending``) call :func:`after_spending`;
this module imports nothing of theirs.
"""

import logging
from datetime import timedelta

from app.core import movements
from app.core.errors import DomainError
from app.core.exactly_once import WorkInProgress, run_once
from app.core.movements import Caller, Movement, TransferOrder
from app.models.goal import GoalModel

log = logging.getLogger("app.roundups")

# The kinds of spending that round up: money leaving the customer.
SPENDING = ("withdrawal", "transfer_out")


def spare_change(cents: int) -> int:
    """Return what rounds ``cents`` up to the next whole unit (0 when it is one)."""
    return (100 - cents % 100) % 100


def after_spending(
    caller: Caller, movement: Movement, *, currency: str, stale_after: timedelta
) -> None:
    """Round up a posted withdrawal or transfer into the caller's round-up goal.

    Never raises: whatever stops the round-up is logged, and the spending
    stands as it is. ``stale_after`` (LEDGER_PENDING_TIMEOUT): when a round-up
    whose runner died may be settled by the next one for the same movement.
    """
    try:
        _round_up(caller, movement, currency, stale_after)
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


def _round_up(
    caller: Caller, movement: Movement, currency: str, stale_after: timedelta
) -> None:
    spent = movement.first
    owner_id = caller.user["_id"]
    if spent["type"] not in SPENDING or spent["status"] != "posted":
        return
    # The primary account shares its _id with its owner (AccountModel.ensure_primary).
    if spent["account_id"] != owner_id or spent["user_id"] != owner_id:
        return
    if spent["type"] == "transfer_out":
        received = next(e for e in movement.entries if e["type"] == "transfer_in")
        # Between the customer's own accounts (goals included) money stays theirs.
        if received["user_id"] == owner_id:
            return
    cents = spare_change(spent["amount_cents"])
    if cents == 0:
        return
    goals = GoalModel()
    goal = goals.round_up_goal(owner_id)
    if goal is None or goal.get("closing_at") is not None:
        return
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
