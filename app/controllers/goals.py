"""Savings goals: validate, run the use case, render the goal (and its money)."""

from flask import current_app

from app import audit
from app.controllers import caller
from app.core import goals
from app.core.goals import ClosedGoal, GoalMovement, GoalRules, NewGoal
from app.core.movements import Movement, MovementKey
from app.schemas.common import page
from app.schemas.goal import (
    closed_goal_schema,
    goal_deposit_schema,
    goal_list_args_schema,
    goal_movement_schema,
    goal_schema,
    goal_withdrawal_schema,
    open_goal_schema,
    update_goal_schema,
)


def goal_rules() -> GoalRules:
    """What the settings say about goals."""
    config = current_app.config
    return GoalRules(
        currency=config["CURRENCY"],
        zone=config["BANK_TIMEZONE"],
        max_goals=config["MAX_GOALS_PER_CUSTOMER"],
        stale_after=config["LEDGER_PENDING_TIMEOUT"],
    )


def list_goals(user: dict, args: dict) -> dict:
    """Return a page of the caller's goals, newest first.

    :raises ValidationError: a bad limit, cursor or status.
    """
    query = goal_list_args_schema.load(args)
    items, docs, has_more = goals.list_goals(
        user,
        query["limit"],
        after=query["cursor"],
        status=query["status"],
        rules=goal_rules(),
    )
    return page(goal_schema.dump(items, many=True), docs, has_more)


def open_goal(user: dict, payload: object) -> dict:
    """Open a goal for the caller and render it.

    :raises ValidationError: a bad name, target or flag.
    :raises DomainError: see :func:`app.core.goals.open_goal`.
    """
    data = open_goal_schema.load(payload)
    opened = goals.open_goal(user, NewGoal(**data), rules=goal_rules())
    rendered = goal_schema.dump(opened)
    audit.record(
        "goal_opened",
        actor=user["username"],
        target=rendered["id"],
        details={"account_number": rendered["account_number"]},
    )
    return rendered


def get_goal(user: dict, goal_id: str) -> dict:
    """Return one of the caller's goals.

    :raises GoalNotFound: no such goal of the caller's.
    """
    return goal_schema.dump(goals.get_goal(user, goal_id, rules=goal_rules()))


def update_goal(user: dict, goal_id: str, payload: object) -> dict:
    """Change a goal's name, target or round-up flag; render it.

    :raises ValidationError: any other field, or a bad value.
    :raises DomainError: see :func:`app.core.goals.update_goal`.
    """
    changes = update_goal_schema.load(payload)
    return goal_schema.dump(
        goals.update_goal(user, goal_id, changes, rules=goal_rules())
    )


def deposit(
    user: dict, goal_id: str, payload: object, key: MovementKey | None = None
) -> dict:
    """Move money from one of the caller's accounts into the goal; render both.

    :raises ValidationError: a bad amount or account number.
    :raises DomainError: see :func:`app.core.goals.deposit`.
    """
    data = goal_deposit_schema.load(payload)
    result = goals.deposit(
        caller(user),
        goal_id,
        data["amount_cents"],
        data["from_account_number"],
        rules=goal_rules(),
        key=key,
    )
    return _render(result)


def withdraw(
    user: dict, goal_id: str, payload: object, key: MovementKey | None = None
) -> dict:
    """Move money out of the goal into one of the caller's accounts; render both.

    :raises ValidationError: a bad amount or account number.
    :raises DomainError: see :func:`app.core.goals.withdraw`.
    """
    data = goal_withdrawal_schema.load(payload)
    result = goals.withdraw(
        caller(user),
        goal_id,
        data["amount_cents"],
        data["to_account_number"],
        rules=goal_rules(),
        key=key,
    )
    return _render(result)


def render_goal_movement(movement: Movement) -> dict:
    """Render a posted transfer into or out of a goal, as the route answers it.

    The replay of an Idempotency-Key whose first request died and was settled
    by recovery answers with this, so it has the shape of a live answer.
    """
    return _render(goals.goal_movement(movement, rules=goal_rules()))


def _render(result: GoalMovement) -> dict:
    return goal_movement_schema.dump(
        {"goal": result.goal, "transfer": result.movement.first}
    )


def close_goal(user: dict, goal_id: str) -> dict:
    """Refund the goal's balance to the primary account, close it; render it.

    :raises DomainError: see :func:`app.core.goals.close_goal`.
    """
    closed: ClosedGoal = goals.close_goal(caller(user), goal_id, rules=goal_rules())
    refund = closed.refund.first if closed.refund is not None else None
    return closed_goal_schema.dump({"goal": closed.goal, "refund": refund})
