"""Approvals: customers list and cancel theirs; bankers list, approve, reject.

The decisions are audited by the use cases (``app.core.approvals``), which
also audit the outcomes the job runner reaches; the actor is the caller.
"""

from app.controllers import caller, spending_rules
from app.core import approvals
from app.schemas.approval import (
    approval_args_schema,
    approval_schema,
    banker_approval_schema,
    reject_approval_schema,
)
from app.schemas.common import PageArgsSchema, page

_page_args = PageArgsSchema()


def list_own(user: dict, args: dict) -> dict:
    """Return a page of the caller's approvals, newest first.

    :raises ValidationError: a bad limit or cursor.
    """
    query = _page_args.load(args)
    docs, more = approvals.list_own(user, query["limit"], query["cursor"])
    return page(approval_schema.dump(docs, many=True), docs, more)


def cancel(user: dict, approval_id: str) -> dict:
    """Cancel one of the caller's pending approvals; render it.

    :raises DomainError: see :func:`app.core.approvals.cancel`.
    """
    return approval_schema.dump(approvals.cancel(caller(user), approval_id))


def list_all(args: dict) -> dict:
    """Return a page of every approval, newest first, of one status or all.

    :raises ValidationError: a bad limit, cursor or status.
    """
    query = approval_args_schema.load(args)
    docs, more = approvals.list_all(query["limit"], query["cursor"], query["status"])
    return page(banker_approval_schema.dump(docs, many=True), docs, more)


def approve(actor: dict, approval_id: str) -> dict:
    """Approve a pending approval: its movement posts (or fails); render it.

    :raises DomainError: see :func:`app.core.approvals.approve`.
    """
    decided = approvals.approve(caller(actor), approval_id, spending_rules())
    return banker_approval_schema.dump(decided)


def reject(actor: dict, approval_id: str, payload: object) -> dict:
    """Reject a pending approval with a reason; render it.

    :raises ValidationError: a missing or bad reason.
    :raises DomainError: see :func:`app.core.approvals.reject`.
    """
    reason = reject_approval_schema.load(payload)["reason"]
    decided = approvals.reject(caller(actor), approval_id, reason)
    return banker_approval_schema.dump(decided)
