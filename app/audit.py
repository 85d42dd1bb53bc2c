"""Record audit events with the request's context (the one door to the log)."""

from bson import ObjectId
from flask import g, has_request_context, request

from app.models.audit import AuditModel


def record(
    action: str,
    *,
    actor: str | None,
    target: str | ObjectId | None = None,
    details: dict | None = None,
) -> dict:
    """Append one audit entry for ``action`` by ``actor`` (a username, or None).

    The client address and request id come from the current request, if any;
    ``details`` holds JSON values only (money as integer cents or strings).
    """
    ip = request_id = None
    if has_request_context():
        ip = request.remote_addr
        request_id = g.get("request_id")
    return AuditModel().append(
        action,
        actor=actor,
        target=str(target) if target is not None else None,
        ip=ip,
        request_id=request_id,
        details=details,
    )
