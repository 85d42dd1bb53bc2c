"""Blueprint limits: the caller's daily limit on money leaving them."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import scheduled
from app.http import json_body
from app.openapi import operation
from app.schemas.scheduled import LimitsSchema, SetLimitSchema
from app.security import roles_required

bp = Blueprint(
    "limits",
    __name__,
    description="The caller's daily limit on withdrawals and transfers to "
    "others, in the bank's calendar day (role customer).",
)


@bp.get("/limits")
@operation(bp, 200, LimitsSchema)
@roles_required("customer")
def get_limits():
    """Show the caller's daily limit, what is used today, and when it resets."""
    return scheduled.get_limits(current_user), 200


@bp.patch("/limits")
@operation(
    bp,
    200,
    LimitsSchema,
    body=SetLimitSchema,
    errors={422: "Invalid input, or above the bank's limit (`validation_error`)."},
    example={"daily_limit": "2500.00"},
)
@roles_required("customer")
def set_limit():
    """Lower the caller's daily limit, or raise it back up to the bank's."""
    return scheduled.set_own_limit(current_user, json_body()), 200
