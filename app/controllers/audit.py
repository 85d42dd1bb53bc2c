"""Reading the audit log: filtered pages and the log check (read-only)."""

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
    return audit_verify_schema.dump(AuditModel().verify())
