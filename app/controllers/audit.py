"""Reading the audit log: filtered pages and the log check.

Both bring the log up to the journal first (the audit feed derives movements'
entries from it), so a reader sees every movement posted until now.
"""

from flask import current_app

from app.core.recovery import audit_movements
from app.models.audit import AuditModel
from app.schemas.audit import (
    audit_args_schema,
    audit_entry_schema,
    audit_verify_schema,
    encode_audit_cursor,
)


def list_events(args: dict) -> dict:
    """Return one page of audit entries, newest first.

    :raises ValidationError: a bad filter, ``limit`` or ``cursor``.
    """
    query = audit_args_schema.load(args)
    catch_up()
    docs, has_more = AuditModel().list_page(
        limit=query["limit"],
        after=query["cursor"],
        actor=query["actor"],
        action=query["action"],
        start=query["start"],
        end=query["end"],
    )
    return {
        "items": audit_entry_schema.dump(docs, many=True),
        "next_cursor": encode_audit_cursor(docs[-1]) if has_more else None,
    }


def verify() -> dict:
    """Recompute every entry hash and seal; report coverage and the first break."""
    catch_up()
    return audit_verify_schema.dump(AuditModel().verify())


def catch_up() -> int:
    """Derive the audit entries of movements posted since the feed last ran."""
    return audit_movements(current_app.config["LEDGER_PENDING_TIMEOUT"])
