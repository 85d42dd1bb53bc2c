"""Schemas for the password reset: asking for a code, and confirming with it."""

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from app.schemas.auth import USERNAME, check_new_password, fold_username

_USERNAME = validate.Regexp(
    USERNAME, error="Must be 3-32 characters: letters, digits, '_', '.' or '-'."
)
ACCEPTED = (
    "If the username exists and has an email address or phone number, a code "
    "has been sent to it. It works once, within 15 minutes."
)


class PasswordResetRequestSchema(Schema):
    """Ask for a reset code: the username (any case)."""

    username = fields.String(required=True, validate=_USERNAME)

    @pre_load
    def fold(self, data: Any, **kwargs: Any) -> Any:
        return fold_username(data)


class PasswordResetConfirmSchema(Schema):
    """The code sent, and a new password that follows the register rules."""

    username = fields.String(required=True, validate=_USERNAME)
    code = fields.String(
        required=True,
        load_only=True,
        validate=validate.Regexp(r"\A[0-9]{8}\Z", error="Must be the 8-digit code."),
        metadata={"example": "04711234"},
    )
    new_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )

    @pre_load
    def fold(self, data: Any, **kwargs: Any) -> Any:
        return fold_username(data)

    @validates_schema(skip_on_field_errors=True)
    def check_password(self, data: dict, **kwargs: Any) -> None:
        problems = check_new_password(data["new_password"], data["username"])
        if problems:
            raise ValidationError({"new_password": problems["password"]})


class PasswordResetAcceptedSchema(Schema):
    """The one answer to every reset request."""

    message = fields.String(required=True, metadata={"example": ACCEPTED})


password_reset_request_schema = PasswordResetRequestSchema()
password_reset_confirm_schema = PasswordResetConfirmSchema()
password_reset_accepted_schema = PasswordResetAcceptedSchema()
