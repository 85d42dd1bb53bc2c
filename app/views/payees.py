"""Blueprint payees: the accounts a customer pays, checked by the holder's name."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import payees
from app.extensions import authenticated_user, limiter, payees_rate
from app.http import json_body, query_args
from app.openapi import RATE_LIMITED, operation
from app.schemas.common import PageArgsSchema
from app.schemas.payee import (
    AddPayeeSchema,
    PayeePageSchema,
    PayeeSchema,
    UpdatePayeeSchema,
)
from app.security import roles_required

bp = Blueprint(
    "payees",
    __name__,
    description="The caller's payees: other customers' accounts, kept after a "
    "check of the holder's name (role customer).",
)

NOT_FOUND = {404: "No such payee of the caller's (`payee_not_found`)."}
# One budget per user for the name checks: each one tells something about
# the holder of the number tried.
_name_check_limit = limiter.shared_limit(
    payees_rate, scope="payees", key_func=authenticated_user
)


@bp.get("/payees")
@operation(bp, 200, PayeePageSchema, query=PageArgsSchema)
@roles_required("customer")
def list_payees():
    """List the caller's payees, newest first."""
    return payees.list_payees(current_user, query_args()), 200


@bp.post("/payees")
@operation(
    bp,
    201,
    PayeeSchema,
    body=AddPayeeSchema,
    errors={
        404: "No such account, or it is closed or a savings goal "
        "(`account_not_found`).",
        409: "The account is one of the caller's payees already "
        "(`payee_exists`), the caller keeps `MAX_PAYEES` payees "
        "(`payee_limit_reached`), or the name does not match the holder's "
        "and was not acknowledged (`name_check_failed`).",
        422: "Invalid input (`validation_error`): among others the caller's "
        "own account, or a name without a letter.",
        **RATE_LIMITED,
    },
    example={
        "account_number": "4817302955",
        "name": "Dave Jones",
        "nickname": "Dave",
        "reference": "Rent",
    },
)
@roles_required("customer")
@_name_check_limit
def add_payee():
    """Check the holder's name and keep an account as one of the caller's payees."""
    return payees.add_payee(current_user, json_body()), 201


@bp.get("/payees/<payee_id>")
@operation(bp, 200, PayeeSchema, errors=NOT_FOUND)
@roles_required("customer")
def get_payee(payee_id: str):
    """Show one of the caller's payees."""
    return payees.get_payee(current_user, payee_id), 200


@bp.patch("/payees/<payee_id>")
@operation(
    bp,
    200,
    PayeeSchema,
    body=UpdatePayeeSchema,
    errors=NOT_FOUND,
    example={"nickname": "Landlord", "reference": None},
)
@roles_required("customer")
def update_payee(payee_id: str):
    """Change a payee's nickname or reference (nothing else changes)."""
    return payees.update_payee(current_user, payee_id, json_body()), 200


@bp.delete("/payees/<payee_id>")
@operation(bp, 204, None, errors=NOT_FOUND)
@roles_required("customer")
def delete_payee(payee_id: str):
    """Forget one of the caller's payees."""
    payees.delete_payee(current_user, payee_id)
    return "", 204
