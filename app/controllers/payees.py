"""A customer's payees: add (with the name check), list, show, change, delete."""

from flask import current_app

from app import audit
from app.core import payees
from app.core.payees import NameCheck, NewPayee
from app.schemas.common import page
from app.schemas.payee import (
    add_payee_schema,
    payee_list_args_schema,
    payee_schema,
    update_payee_schema,
)

# Audit actions. Snake case like every other action: GET /audit/events
# filters by an action of [a-z_] only.
NAME_CHECK_ACTION = "payee_name_check"
DELETED_ACTION = "payee_deleted"


def add_payee(user: dict, payload: object) -> dict:
    """Check the name, keep the account as the caller's payee, render it.

    Every name check made is audited, refused or not; its details hold the
    result and whether a payee was stored, never the holder's name.

    :raises ValidationError: a bad number, name, nickname or reference, or
        the caller's own account.
    :raises DomainError: see :func:`app.core.payees.add_payee`.
    """
    data = add_payee_schema.load(payload)

    def audit_check(check: NameCheck, created: bool) -> None:
        audit.record(
            NAME_CHECK_ACTION,
            actor=user["username"],
            target=data["account_number"],
            details={"result": check.result, "created": created},
        )

    payee = payees.add_payee(
        user,
        NewPayee(**data),
        limit=current_app.config["MAX_PAYEES"],
        on_name_check=audit_check,
    )
    return payee_schema.dump(payee)


def list_payees(user: dict, args: dict) -> dict:
    """Return a page of the caller's payees, newest first.

    :raises ValidationError: a bad limit or cursor.
    """
    query = payee_list_args_schema.load(args)
    docs, has_more = payees.list_payees(user, query["limit"], after=query["cursor"])
    return page(payee_schema.dump(docs, many=True), docs, has_more)


def get_payee(user: dict, payee_id: str) -> dict:
    """Return one of the caller's payees.

    :raises PayeeNotFound: no such payee of the caller's.
    """
    return payee_schema.dump(payees.get_payee(user, payee_id))


def update_payee(user: dict, payee_id: str, payload: object) -> dict:
    """Change a payee's nickname or reference; render it.

    :raises ValidationError: any other field, or a bad value.
    :raises PayeeNotFound: no such payee of the caller's.
    """
    changes = update_payee_schema.load(payload)
    return payee_schema.dump(payees.update_payee(user, payee_id, changes))


def delete_payee(user: dict, payee_id: str) -> None:
    """Forget one of the caller's payees, and audit it.

    :raises PayeeNotFound: no such payee of the caller's.
    """
    payee = payees.delete_payee(user, payee_id)
    audit.record(
        DELETED_ACTION,
        actor=user["username"],
        target=payee["account_number"],
        details={"payee_id": str(payee["_id"])},
    )
