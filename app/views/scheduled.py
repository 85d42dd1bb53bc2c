"""Blueprint scheduled_transfers: a customer's standing orders and their runs."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import scheduled
from app.http import json_body, query_args
from app.openapi import operation
from app.schemas.common import PageArgsSchema
from app.schemas.scheduled import (
    PlaceOrderSchema,
    RunPageSchema,
    ScheduledTransferPageSchema,
    ScheduledTransferSchema,
)
from app.security import roles_required

bp = Blueprint(
    "scheduled_transfers",
    __name__,
    description="The caller's standing orders, paid by the job runner on each "
    "due date (role customer).",
)

NOT_FOUND = {404: "No such order of the caller's (`scheduled_transfer_not_found`)."}
STATE = {
    **NOT_FOUND,
    409: "The order's state does not allow that (`invalid_state`).",
}


@bp.get("/scheduled-transfers")
@operation(bp, 200, ScheduledTransferPageSchema, query=PageArgsSchema)
@roles_required("customer")
def list_orders():
    """List the caller's standing orders, newest first."""
    return scheduled.list_orders(current_user, query_args()), 200


@bp.post("/scheduled-transfers")
@operation(
    bp,
    201,
    ScheduledTransferSchema,
    body=PlaceOrderSchema,
    errors={
        404: "The source is not the caller's, no open account has the target "
        "number (`account_not_found`), or no such payee (`payee_not_found`).",
        422: "Invalid input (`validation_error`): among others a start in the "
        "past, both a count and an end date, or both or neither of "
        "to_account_number and payee_id.",
    },
    example={
        "to_account_number": "4817302955",
        "amount": "250.00",
        "description": "Rent",
        "start_date": "2026-12-31",
        "recurrence": {"frequency": "monthly", "interval": 1, "count": 12},
    },
)
@roles_required("customer")
def place_order():
    """Place a standing order: one payment on start_date, or a recurring one."""
    return scheduled.place_order(current_user, json_body()), 201


@bp.get("/scheduled-transfers/<order_id>")
@operation(bp, 200, ScheduledTransferSchema, errors=NOT_FOUND)
@roles_required("customer")
def get_order(order_id: str):
    """Show one of the caller's standing orders."""
    return scheduled.get_order(current_user, order_id), 200


@bp.get("/scheduled-transfers/<order_id>/runs")
@operation(bp, 200, RunPageSchema, query=PageArgsSchema, errors=NOT_FOUND)
@roles_required("customer")
def list_runs(order_id: str):
    """List the settled occurrences of one of the caller's orders, newest first."""
    return scheduled.list_runs(current_user, order_id, query_args()), 200


@bp.post("/scheduled-transfers/<order_id>/pause")
@operation(bp, 200, ScheduledTransferSchema, errors=STATE)
@roles_required("customer")
def pause_order(order_id: str):
    """Pause an active order: its occurrences are skipped until it resumes."""
    return scheduled.change_order(current_user, order_id, "pause"), 200


@bp.post("/scheduled-transfers/<order_id>/resume")
@operation(bp, 200, ScheduledTransferSchema, errors=STATE)
@roles_required("customer")
def resume_order(order_id: str):
    """Resume a paused or suspended order, from its next date on or after today."""
    return scheduled.change_order(current_user, order_id, "resume"), 200


@bp.post("/scheduled-transfers/<order_id>/cancel")
@operation(bp, 200, ScheduledTransferSchema, errors=STATE)
@roles_required("customer")
def cancel_order(order_id: str):
    """Cancel an order for good."""
    return scheduled.change_order(current_user, order_id, "cancel"), 200
