"""Schemas for the audit log: its query, its entries and the log check."""

from marshmallow import Schema, fields, validate

from app.schemas.common import (
    DateRangeArgsSchema,
    ObjectIdString,
    UtcDateTime,
    encode_cursor,
    plain_text,
)

HEX64 = {"pattern": "^[0-9a-f]{64}$"}


def encode_audit_cursor(doc: dict) -> str:
    """Make the opaque cursor that continues after entry ``doc`` (by at, id)."""
    return encode_cursor({"created_at": doc["at"], "_id": doc["_id"]})


class AuditArgsSchema(DateRangeArgsSchema):
    """Filters and pagination of GET /audit/events."""

    actor = fields.String(
        load_default=None, validate=[validate.Length(min=1, max=64), plain_text]
    )
    action = fields.String(
        load_default=None,
        validate=validate.Regexp(r"\A[a-z_]{1,64}\Z", error="Unknown action."),
    )


class AuditEntrySchema(Schema):
    """One audit entry, its own hash, and its place once a seal covers it."""

    id = ObjectIdString(required=True, attribute="_id")
    at = UtcDateTime(required=True)
    actor = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The acting username; null for the system."},
    )
    action = fields.String(required=True, metadata={"example": "login_success"})
    target = fields.String(required=True, allow_none=True)
    ip = fields.String(required=True, allow_none=True)
    request_id = fields.String(required=True, allow_none=True)
    details = fields.Dict(required=True, allow_none=True)
    hash = fields.String(
        required=True,
        metadata={**HEX64, "description": "SHA-256 of the entry's canonical form."},
    )
    seal = fields.Integer(
        required=True,
        allow_none=True,
        strict=True,
        metadata={"description": "The seal that covers the entry; null until then."},
    )
    seq = fields.Integer(
        required=True,
        allow_none=True,
        strict=True,
        metadata={"description": "The entry's position in the log, from its seal."},
    )


class AuditPageSchema(Schema):
    """A page of audit entries, newest first."""

    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class AuditVerifySchema(Schema):
    """Whether the log is intact, what its seals cover, and the first break."""

    valid = fields.Boolean(required=True)
    entries = fields.Integer(required=True, strict=True)
    first_bad_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The first entry that breaks, if any."},
    )
    first_bad_seal = fields.Integer(
        required=True,
        allow_none=True,
        strict=True,
        metadata={"description": "The seal whose range breaks, if any."},
    )
    sealed = fields.Integer(required=True, strict=True)
    unsealed = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "Entries no seal covers yet (own hash only)."},
    )
    seals = fields.Integer(required=True, strict=True)
    last_sealed_at = UtcDateTime(required=True, allow_none=True)
    last_seal = fields.Integer(required=True, allow_none=True, strict=True)
    last_digest = fields.String(
        required=True,
        allow_none=True,
        metadata={
            **HEX64,
            "description": "Keep it outside the database: a later check that "
            "shows fewer seals or another digest for this seal shows a cut.",
        },
    )
    keyed = fields.Boolean(
        required=True,
        metadata={"description": "Whether seals are checked with AUDIT_SEAL_KEY."},
    )


audit_args_schema = AuditArgsSchema()
audit_entry_schema = AuditEntrySchema()
audit_verify_schema = AuditVerifySchema()
