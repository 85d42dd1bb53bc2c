"""Blueprint goals: the caller's savings goals and the money moved in and out."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import goals
from app.http import json_body, query_args
from app.idempotency import movement_key
from app.openapi import RATE_LIMITED, operation
from app.schemas.goal import (
    ClosedGoalSchema,
    GoalDepositSchema,
    GoalListArgsSchema,
    GoalMovementSchema,
    GoalPageSchema,
    GoalSchema,
    GoalWithdrawalSchema,
    OpenGoalSchema,
    UpdateGoalSchema,
)
from app.security import roles_required
from app.views.money import money_route

bp = Blueprint(
    "goals",
    __name__,
    description="The caller's savings goals: ledger accounts of kind goal, funded "
    "only from the caller's own accounts (role customer).",
)

NOT_FOUND = {404: "No such goal of the caller's (`goal_not_found`)."}
GOAL_CLOSED = "the goal is closed or being closed (`account_closed`)"
# What moving money into or out of a goal can run into besides bad input.
MOVEMENT_ERRORS = {
    404: "No such goal of the caller's (`goal_not_found`), or the other account "
    "is not one of the caller's own (`account_not_found`).",
    409: f"The balance is too low (`insufficient_funds`), {GOAL_CLOSED}, an "
    "account is frozen or closed (`account_frozen`, `account_closed`), or a "
    "request with this Idempotency-Key is still running "
    "(`idempotency_in_progress`).",
    422: "Invalid input (`validation_error`), or the Idempotency-Key was used "
    "with a different request (`idempotency_key_reused`).",
    503: "The database does not answer (`database_unavailable`) or the account "
    "is too busy (`ledger_busy`); nothing moved, a retry with the key is safe.",
    **RATE_LIMITED,
}
def moves_money(
    status: int,
    response: type,
    body: type | None,
    example: dict | None,
    errors: dict,
    keyed: bool = True,
):
    """A goal's money-moving view (see app.views.money): its settled retries
    are answered in the goal's shape."""
    return money_route(
        bp, status, response, body=body, example=example, errors=errors,
        keyed=keyed, render=goals.render_goal_movement,
    )  # fmt: skip


@bp.get("/goals")
@operation(bp, 200, GoalPageSchema, query=GoalListArgsSchema)
@roles_required("customer")
def list_goals():
    """List the caller's savings goals, newest first."""
    return goals.list_goals(current_user, query_args()), 200


@bp.post("/goals")
@operation(
    bp,
    201,
    GoalSchema,
    body=OpenGoalSchema,
    errors={
        409: "The caller holds `MAX_GOALS_PER_CUSTOMER` goals "
        "(`goal_limit_reached`), or round-ups were asked for and another goal "
        "takes them (`round_up_taken`).",
        422: "Invalid input (`validation_error`): among others a target date "
        "that is not in the future.",
    },
    example={
        "name": "Summer holiday",
        "target_amount": "1200.00",
        "target_date": "2027-06-30",
        "round_up": True,
    },
)
@roles_required("customer")
def open_goal():
    """Open a savings goal for the caller."""
    return goals.open_goal(current_user, json_body()), 201


@bp.get("/goals/<goal_id>")
@operation(bp, 200, GoalSchema, errors=NOT_FOUND)
@roles_required("customer")
def get_goal(goal_id: str):
    """Show one of the caller's goals and its progress."""
    return goals.get_goal(current_user, goal_id), 200


@bp.patch("/goals/<goal_id>")
@operation(
    bp,
    200,
    GoalSchema,
    body=UpdateGoalSchema,
    errors={
        **NOT_FOUND,
        409: f"Round-ups asked for and another goal takes them (`round_up_taken`), "
        f"or {GOAL_CLOSED}.",
        422: "Invalid input (`validation_error`): among others a target date "
        "that is not in the future.",
    },
    example={"target_amount": "1500.00", "target_date": None},
)
@roles_required("customer")
def update_goal(goal_id: str):
    """Change a goal's name, target amount, target date or round-ups."""
    return goals.update_goal(current_user, goal_id, json_body()), 200


@bp.delete("/goals/<goal_id>")
@moves_money(
    200,
    ClosedGoalSchema,
    None,
    None,
    errors={
        **NOT_FOUND,
        409: "The goal's account or the primary account is frozen "
        "(`account_frozen`) or the primary is closed (`account_closed`).",
        503: "The database does not answer (`database_unavailable`), or money "
        "is still moving in or out of the goal (`ledger_busy`); a retry is safe "
        "and never refunds twice.",
        **RATE_LIMITED,
    },
    keyed=False,
)
def close_goal(goal_id: str):
    """Move the goal's whole balance to the primary account and close the goal.

    Safe to repeat: a closed goal answers with the same body again.
    """
    return goals.close_goal(current_user, goal_id), 200


@bp.post("/goals/<goal_id>/deposits")
@moves_money(
    201,
    GoalMovementSchema,
    GoalDepositSchema,
    {"amount": "25.00"},
    MOVEMENT_ERRORS,
)
def deposit(goal_id: str):
    """Move money from one of the caller's accounts (default primary) into a goal."""
    return goals.deposit(current_user, goal_id, json_body(), movement_key()), 201


@bp.post("/goals/<goal_id>/withdrawals")
@moves_money(
    201,
    GoalMovementSchema,
    GoalWithdrawalSchema,
    {"amount": "25.00"},
    MOVEMENT_ERRORS,
)
def withdraw(goal_id: str):
    """Move money out of a goal into one of the caller's accounts (default primary)."""
    return goals.withdraw(current_user, goal_id, json_body(), movement_key()), 201
