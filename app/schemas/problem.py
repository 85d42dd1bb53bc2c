"""The RFC 9457 problem document every error answers with."""

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """An error: what went wrong, a stable code and the request's id."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Conflict"})
    status = fields.Integer(required=True, strict=True, metadata={"example": 409})
    detail = fields.String(
        required=True,
        metadata={"example": "Insufficient funds: balance 20.00, requested 50.00"},
    )
    code = fields.String(
        required=True,
        metadata={
            "description": "Stable snake_case identifier to branch on.",
            "example": "insufficient_funds",
        },
    )
    request_id = fields.String(required=True, metadata={"example": "3f6c0c1e9b2a"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Field errors (validation_error only).",
            "example": {"amount": ["Must be greater than 0."]},
        },
    )
    # The figures of a daily_limit_exceeded refusal.
    limit = fields.String(
        metadata={"description": "daily_limit_exceeded only: the daily limit."}
    )
    used = fields.String(
        metadata={"description": "daily_limit_exceeded only: sent out today."}
    )
    remaining = fields.String(
        metadata={"description": "daily_limit_exceeded only: what is left today."}
    )
    resets_at = fields.String(
        metadata={"description": "daily_limit_exceeded only: when the day ends (UTC)."}
    )
    # What an approval_not_pending refusal found.
    approval_status = fields.String(
        metadata={"description": "approval_not_pending only: the approval's status."}
    )
