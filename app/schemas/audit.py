"""Schemas for the audit log: its query, its entries and the chain check."""

import base64
import binascii
from typing import Any

from marshmallow import Schema, fields, validate

from app.schemas.common import (
    DateRangeArgsSchema,
    ObjectIdString,
    UtcDateTime,
    decode_cursor_text,
    is_ascii_digits,
    plain_text,
)


class SeqCursor(fields.Field):
    """An opaque cursor in, the ``seq`` to continue below out."""

    default_error_messages = {"invalid": "Invalid cursor."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or len(value) > 32:
            raise self.make_error("invalid")
        try:
            text = decode_cursor_text(value)
        except (ValueError, binascii.Error) as exc:
            raise self.make_error("invalid") from exc
        digits = text.removeprefix("seq:")
        if digits == text or not is_ascii_digits(digits):
            raise self.make_error("invalid")
        return int(digits)


def encode_seq_cursor(seq: int) -> str:
    """Make the cursor that continues below ``seq``."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


class AuditArgsSchema(DateRangeArgsSchema):
    """Filters and pagination of GET /audit/events."""

    cursor = SeqCursor(load_default=None)
    actor = fields.String(
        load_default=None, validate=[validate.Length(min=1, max=64), plain_text]
    )
    action = fields.String(
        load_default=None,
        validate=validate.Regexp(r"\A[a-z_]{1,64}\Z", error="Unknown action."),
    )


class AuditEntrySchema(Schema):
    """One audit entry, with the hashes that chain it to the one before."""

    id = ObjectIdString(required=True, attribute="_id")
    seq = fields.Integer(required=True, strict=True)
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
    prev_hash = fields.String(required=True, metadata={"pattern": "^[0-9a-f]{64}$"})
    hash = fields.String(required=True, metadata={"pattern": "^[0-9a-f]{64}$"})


class AuditPageSchema(Schema):
    """A page of audit entries, newest first."""

    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class AuditVerifySchema(Schema):
    """Whether every link of the chain holds, and the first one that does not."""

    valid = fields.Boolean(required=True)
    entries = fields.Integer(required=True, strict=True)
    first_bad_id = fields.String(required=True, allow_none=True)


audit_args_schema = AuditArgsSchema()
audit_entry_schema = AuditEntrySchema()
audit_verify_schema = AuditVerifySchema()
