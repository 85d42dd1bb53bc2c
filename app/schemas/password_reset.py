"""Schemas for the password reset: asking for a code, and confirming with it."""

from marshmallow import Schema, fields, validate

from app.schemas.auth import USERNAME_RULE, FoldedUsernameSchema, NewCredentialsSchema

ACCEPTED = (
    "If the username exists and has an email address or phone number, a code "
    "has been sent to it. It works once, within 15 minutes."
)


class PasswordResetRequestSchema(FoldedUsernameSchema):
    """Ask for a reset code: the username (any case)."""

    username = fields.String(required=True, validate=USERNAME_RULE)


class PasswordResetConfirmSchema(NewCredentialsSchema):
    """The code sent, and a new password that follows the register rules."""

    policy_field = "new_password"

    code = fields.String(
        required=True,
        load_only=True,
        validate=validate.Regexp(r"\A[0-9]{8}\Z", error="Must be the 8-digit code."),
        metadata={"example": "04711234"},
    )
    new_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )


class PasswordResetAcceptedSchema(Schema):
    """The one answer to every reset request."""

    message = fields.String(required=True, metadata={"example": ACCEPTED})


password_reset_request_schema = PasswordResetRequestSchema()
password_reset_confirm_schema = PasswordResetConfirmSchema()
password_reset_accepted_schema = PasswordResetAcceptedSchema()
