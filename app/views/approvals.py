"""Blueprint approvals: large movements waiting for a banker (maker-checker).

The customer's side (GET /approvals, cancel) and the bankers' (GET, approve,
reject under /banker/approvals) of the same objects, in one blueprint.
"""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import approvals as controller
from app.http import json_body, query_args
from app.openapi import operation
from app.schemas.approval import (
    ApprovalArgsSchema,
    ApprovalPageSchema,
    ApprovalSchema,
    BankerApprovalPageSchema,
    BankerApprovalSchema,
    RejectApprovalSchema,
)
from app.schemas.common import PageArgsSchema
from app.security import roles_required
from app.views.banker import ADMIN_FORBIDDEN

bp = Blueprint(
    "approvals",
    __name__,
    description="Withdrawals and transfers to others of at least "
    "APPROVAL_THRESHOLD wait for a banker: the customer sees and cancels "
    "theirs (role customer); bankers and auditors list them, a banker "
    "approves or rejects them.",
)

NOT_FOUND = {404: "No approval has that id (`approval_not_found`)."}
NOT_PENDING = {
    409: "The approval was decided already: it keeps its one outcome "
    "(`approval_not_pending`, with `approval_status`)."
}
DECIDE = {**ADMIN_FORBIDDEN, **NOT_FOUND, **NOT_PENDING}


@bp.get("/approvals")
@operation(bp, 200, ApprovalPageSchema, query=PageArgsSchema)
@roles_required("customer")
def list_own():
    """List the caller's large movements waiting for (or past) approval."""
    return controller.list_own(current_user, query_args()), 200


@bp.post("/approvals/<approval_id>/cancel")
@operation(
    bp,
    200,
    ApprovalSchema,
    errors={
        404: "No such approval of the caller's (`approval_not_found`).",
        **NOT_PENDING,
    },
)
@roles_required("customer")
def cancel(approval_id: str):
    """Cancel one of the caller's pending approvals: its reservation is released."""
    return controller.cancel(current_user, approval_id), 200


@bp.get("/banker/approvals")
@operation(bp, 200, BankerApprovalPageSchema, query=ApprovalArgsSchema)
@roles_required("banker", "auditor")
def list_all():
    """List every approval, newest first, of one status or all."""
    return controller.list_all(query_args()), 200


@bp.post("/banker/approvals/<approval_id>/approve")
@operation(
    bp,
    200,
    BankerApprovalSchema,
    errors={
        **DECIDE,
        503: "The database does not answer (`database_unavailable`), or an "
        "account kept changing or the approval is being posted by another "
        "runner (`ledger_busy`): the job runner finishes it.",
    },
)
@roles_required("banker")
def approve(approval_id: str):
    """Approve: the movement posts once (`posted`), or `failed` if it no longer can."""
    return controller.approve(current_user, approval_id), 200


@bp.post("/banker/approvals/<approval_id>/reject")
@operation(
    bp,
    200,
    BankerApprovalSchema,
    body=RejectApprovalSchema,
    errors=DECIDE,
    example={"reason": "The customer could not confirm it by phone."},
)
@roles_required("banker")
def reject(approval_id: str):
    """Reject with a reason: nothing moves and the reservation is released."""
    return controller.reject(current_user, approval_id, json_body()), 200
