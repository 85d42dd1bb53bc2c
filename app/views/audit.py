"""Blueprint audit: the tamper-evident audit log (bankers and auditors)."""

from flask_smorest import Blueprint

from app.controllers import audit as controller
from app.http import query_args
from app.openapi import operation
from app.schemas.audit import AuditArgsSchema, AuditPageSchema, AuditVerifySchema
from app.security import roles_required

bp = Blueprint(
    "audit",
    __name__,
    url_prefix="/audit",
    description="The sealed audit log (roles banker and auditor).",
)


@bp.get("/events")
@operation(bp, 200, AuditPageSchema, query=AuditArgsSchema)
@roles_required("banker", "auditor")
def list_events():
    """List audit entries, newest first, filtered by actor, action and time."""
    return controller.list_events(query_args()), 200


@bp.get("/verify")
@operation(bp, 200, AuditVerifySchema)
@roles_required("banker", "auditor")
def verify():
    """Check every entry hash and seal: what is sealed, what not yet, any break."""
    return controller.verify(), 200
