"""Schemas for accounts and balances."""

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from app.models.account import ACCOUNT_KINDS, ACCOUNT_STATUSES, SHOWN_KINDS
from app.models.ledger import available_cents
from app.schemas.common import (
    ACCOUNT_NUMBER,
    Cents,
    ObjectIdString,
    PageArgsSchema,
    UtcDateTime,
    page_schema,
    plain_text,
)


class BalanceArgsSchema(Schema):
    """Optional ``account_number`` query for GET /balance."""

    account_number = fields.String(load_default=None, validate=ACCOUNT_NUMBER)


class BalanceSchema(Schema):
    """An account's number, balance and currency."""

    account_number = fields.String(required=True, metadata={"example": "4817302955"})
    balance = Cents(required=True, attribute="balance_cents")
    currency = fields.String(required=True, metadata={"example": "USD"})


class WithAvailable(Schema):
    """Adds ``available_balance``: the balance less what pending approvals hold
    back (what a withdrawal or transfer may spend)."""

    available_balance = Cents(required=True, attribute="available_cents")

    @pre_dump
    def add_available(self, doc: dict, **kwargs: Any) -> dict:
        return {**doc, "available_cents": available_cents(doc)}


class AccountSchema(BalanceSchema, WithAvailable):
    """One of the caller's accounts."""

    # A goal's account shows as kind "goal"; POST /accounts opens only
    # ACCOUNT_KINDS (OpenAccountSchema).
    kind = fields.String(required=True, validate=validate.OneOf(SHOWN_KINDS))
    primary = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    created_at = UtcDateTime(required=True)


class OpenAccountSchema(Schema):
    """POST /accounts: the kind of account to open."""

    kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))


class OwnerSchema(Schema):
    """The owner of an account or transaction, as bankers see it."""

    id = ObjectIdString(required=True, attribute="user_id")
    username = fields.String(required=True)


class WithOwner(Schema):
    """Adds ``owner`` (id and username) from the document's own fields."""

    owner = fields.Nested(OwnerSchema, required=True)

    @pre_dump
    def add_owner(self, doc: dict, **kwargs: Any) -> dict:
        return {**doc, "owner": doc}


class BankerAccountSchema(BalanceSchema, WithAvailable, WithOwner):
    """An account with its owner, as bankers see it."""

    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    created_at = UtcDateTime(required=True)


class BankerAccountArgsSchema(PageArgsSchema):
    """Filters for the banker's account list."""

    q = fields.String(
        load_default=None, validate=[validate.Length(min=1, max=32), plain_text]
    )
    status = fields.String(load_default=None, validate=validate.OneOf(ACCOUNT_STATUSES))


AccountPageSchema = page_schema(AccountSchema)
BankerAccountPageSchema = page_schema(BankerAccountSchema)

account_schema = AccountSchema()
open_account_schema = OpenAccountSchema()
account_list_args_schema = PageArgsSchema()
balance_args_schema = BalanceArgsSchema()
balance_schema = BalanceSchema()
banker_account_schema = BankerAccountSchema()
banker_account_args_schema = BankerAccountArgsSchema()
