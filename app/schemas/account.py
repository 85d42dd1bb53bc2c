"""Schemas for accounts and balances."""

from marshmallow import Schema, fields, validate

from app.models.account import ACCOUNT_KINDS, ACCOUNT_STATUSES
from app.schemas.common import (
    ACCOUNT_NUMBER,
    Cents,
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
)


class BalanceArgsSchema(Schema):
    """Optional ``account_number`` query for GET /balance."""

    account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)


class BalanceSchema(Schema):
    """An account's number, balance and currency."""

    account_number = fields.String()
    balance = Cents(attribute="balance_cents")
    currency = fields.String()


class AccountSchema(Schema):
    """One of the caller's accounts."""

    account_number = fields.String()
    kind = fields.String()
    primary = fields.Boolean()
    status = fields.String()
    balance = Cents(attribute="balance_cents")
    currency = fields.String()
    created_at = UtcDateTime()


class OpenAccountSchema(Schema):
    """POST /accounts: the kind of account to open."""

    kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))


class OwnerSchema(Schema):
    """The owner of an account or transaction, as bankers see it."""

    id = ObjectIdString(attribute="user_id")
    username = fields.String()


class BankerAccountSchema(Schema):
    """An account with its owner, as bankers see it."""

    account_number = fields.String()
    owner = fields.Function(lambda account: owner_schema.dump(account))
    balance = Cents(attribute="balance_cents")
    currency = fields.String()
    status = fields.String()
    created_at = UtcDateTime()


class BankerAccountArgsSchema(PageArgsSchema):
    """Filters for the banker's account list."""

    q = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    status = fields.String(load_default=None, validate=validate.OneOf(ACCOUNT_STATUSES))


account_schema = AccountSchema()
open_account_schema = OpenAccountSchema()
account_list_args_schema = PageArgsSchema()
balance_args_schema = BalanceArgsSchema()
balance_schema = BalanceSchema()
owner_schema = OwnerSchema()
banker_account_schema = BankerAccountSchema()
banker_account_args_schema = BankerAccountArgsSchema()
