"""Schemas for registration, login and the user resource."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from app.models.user import ROLES
from app.schemas.account import BalanceSchema
from app.schemas.common import (
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)

LOGIN_OUTCOMES = ("success", "failure", "locked", "disabled")
USERNAME = re.compile(r"\A[a-z0-9_.-]{3,32}\Z")
_COMMON_PASSWORDS = (
    Path(__file__).resolve().parent.parent / "data" / "common_passwords.txt"
)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """Load the bundled list of common passwords (lower case)."""
    lines = _COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    )


def fold_username(data: Any) -> Any:
    """Lower-case the username before anything else looks at it."""
    if isinstance(data, dict) and isinstance(data.get("username"), str):
        data = {**data, "username": data["username"].lower()}
    return data


def check_new_password(password: str, username: str | None) -> dict[str, list[str]]:
    """Return the password-policy errors for a new password, keyed by field."""
    problems = []
    if username and password.lower() == username.lower():
        problems.append("Must not be the username.")
    if password.lower() in common_passwords():
        problems.append("Is too common; choose another.")
    return {"password": problems} if problems else {}


class FoldedUsernameSchema(Schema):
    """A schema whose ``username`` is lower-cased before it is validated."""

    @pre_load
    def fold(self, data: Any, **kwargs: Any) -> Any:
        return fold_username(data)


USERNAME_RULE = validate.Regexp(
    USERNAME, error="Must be 3-32 characters: letters, digits, '_', '.' or '-'."
)


class NewCredentialsSchema(FoldedUsernameSchema):
    """A username by the register rules and a new password under the policy.

    A subclass declares the password field and names it in ``policy_field``.
    """

    policy_field = "password"

    username = fields.String(required=True, validate=USERNAME_RULE)

    @validates_schema(skip_on_field_errors=True)
    def check_password(self, data: dict, **kwargs: Any) -> None:
        problems = check_new_password(data[self.policy_field], data["username"])
        if problems:
            raise ValidationError({self.policy_field: problems["password"]})


class RegisterSchema(NewCredentialsSchema):
    """A new customer: username, password, optional email and full name."""

    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )
    email = fields.Email(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=254), plain_text],
    )
    full_name = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=100), plain_text],
    )


class LoginSchema(FoldedUsernameSchema):
    """Credentials: username (any case) and password."""

    # No username holds an invisible character; refused before it can count
    # toward a lockout or reach the login history.
    username = fields.String(
        required=True, validate=[validate.Length(min=1, max=64), plain_text]
    )
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class UserSchema(Schema):
    """The user resource as returned at registration."""

    id = ObjectIdString(required=True, attribute="_id")
    username = fields.String(required=True, metadata={"example": "alice"})
    role = fields.String(
        required=True, validate=validate.OneOf(ROLES), metadata={"example": "customer"}
    )
    created_at = UtcDateTime(required=True)


class MeSchema(UserSchema):
    """The caller's own profile."""

    email = fields.String(required=True, allow_none=True)
    full_name = fields.String(required=True, allow_none=True)
    # Users made before phones were kept have no field: null, like the others.
    phone = fields.String(
        required=True,
        allow_none=True,
        dump_default=None,
        metadata={"example": "+14155550123"},
    )


# E.164: a plus sign, then 8 to 15 digits, the first not 0 (a country code).
PHONE = re.compile(r"\A\+[1-9][0-9]{7,14}\Z")
PROFILE_FIELDS = ("email", "full_name", "phone")


class ProfileUpdateSchema(Schema):
    """Profile fields to change; a null clears one. At least one field."""

    email = fields.Email(
        allow_none=True, validate=[validate.Length(max=254), plain_text]
    )
    full_name = fields.String(
        allow_none=True, validate=[validate.Length(min=1, max=100), plain_text]
    )
    phone = fields.String(
        allow_none=True,
        validate=validate.Regexp(
            PHONE, error="Must be an E.164 number: '+' and 8-15 digits."
        ),
        metadata={"example": "+14155550123"},
    )

    @validates_schema
    def something_to_change(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError(
                "Send at least one of: " + ", ".join(PROFILE_FIELDS) + "."
            )


class RegistrationSchema(Schema):
    """A new customer and the account made for them."""

    user = fields.Nested(UserSchema, required=True)
    account = fields.Nested(BalanceSchema, required=True)


class ChangePasswordSchema(Schema):
    """The current password and a new one that follows the register rules."""

    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )
    new_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )


class AccessTokenSchema(Schema):
    """A fresh access token for the refresh token's session."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "Seconds the access token lives.", "example": 900},
    )


class TokenSchema(AccessTokenSchema):
    """A login's tokens: access and refresh."""

    refresh_token = fields.String(required=True)


class LoginAttemptSchema(Schema):
    """One login attempt for the caller's username."""

    at = UtcDateTime(required=True, attribute="created_at")
    ip = fields.String(
        required=True, allow_none=True, metadata={"example": "203.0.113.7"}
    )
    user_agent = fields.String(required=True, allow_none=True)
    outcome = fields.String(required=True, validate=validate.OneOf(LOGIN_OUTCOMES))


LoginAttemptPageSchema = page_schema(LoginAttemptSchema)

registration_schema = RegistrationSchema()
change_password_schema = ChangePasswordSchema()
access_token_schema = AccessTokenSchema()
login_attempt_schema = LoginAttemptSchema()
login_list_args_schema = PageArgsSchema()
register_schema = RegisterSchema()
login_schema = LoginSchema()
me_schema = MeSchema()
profile_update_schema = ProfileUpdateSchema()
token_schema = TokenSchema()
