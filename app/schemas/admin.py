"""Schemas for the bankers' administration: staff, accounts and user status."""

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from app.models.account import ACCOUNT_KINDS, ACCOUNT_STATUSES
from app.models.user import STAFF_ROLES
from app.schemas.auth import FoldedUsernameSchema, RegisterSchema, UserSchema
from app.schemas.common import Cents, Money, plain_text


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` and nothing else.

    marshmallow's Boolean reads ``"false"``, ``0`` or ``"off"`` as booleans; a
    flag that disables a user must not be guessed from a string or a number.
    """

    default_error_messages = {"invalid": "Must be true or false."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        # Identity, not equality: 1 == True, and so does Decimal(1).
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class CreateStaffSchema(RegisterSchema):
    """POST /banker/staff: a banker or an auditor (the register rules apply)."""

    class Meta:
        exclude = ("email", "full_name")

    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))


class StaffResponseSchema(Schema):
    """The staff member just created."""

    user = fields.Nested(UserSchema, required=True)


class BankerOpenAccountSchema(FoldedUsernameSchema):
    """POST /banker/accounts: whose account (a customer's username) and its kind."""

    username = fields.String(
        required=True, validate=[validate.Length(min=1, max=64), plain_text]
    )
    kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))


class SetAccountStatusSchema(Schema):
    """PATCH /banker/accounts/{account_number}: the new status."""

    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))


class SetUserActiveSchema(Schema):
    """PATCH /banker/users/{user_id}: enable (true) or disable (false), and/or
    set a customer's daily limit."""

    active = StrictBoolean()
    daily_limit_cents = Money(data_key="daily_limit")

    @validates_schema
    def check_something(self, data: dict, **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give active, daily_limit or both.", "_schema")


class BankerUserSchema(UserSchema):
    """A user as bankers administer it: the user and whether it may sign in."""

    # Users written before the flag existed are active (as roles_required reads).
    active = fields.Boolean(required=True, dump_default=True)
    # null: the bank's DAILY_OUT_LIMIT applies.
    daily_limit = Cents(
        attribute="daily_limit_cents",
        allow_none=True,
        dump_default=None,
        metadata={"description": "The customer's own daily limit; null: the bank's."},
    )


create_staff_schema = CreateStaffSchema()
staff_response_schema = StaffResponseSchema()
banker_open_account_schema = BankerOpenAccountSchema()
set_account_status_schema = SetAccountStatusSchema()
set_user_active_schema = SetUserActiveSchema()
banker_user_schema = BankerUserSchema()
